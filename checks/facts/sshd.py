"""The ``sshd`` fact: the effective sshd settings (``sshd -T``) and the ClientAliveInterval and
Include lines of the main ``/etc/ssh/sshd_config``."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Protocol

from checks.fact import fact
from checks.parsing import sections

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


@dataclass(frozen=True)
class SshdConfig:
    """What sshd would use, and what its main configuration file says."""

    absent: bool
    """No sshd binary: no SSH server is installed."""
    effective: Mapping[str, str] = field(default_factory=dict)
    """Settings ``sshd -T`` printed (lower-case keyword -> value), the first of each wins."""
    client_alive_interval: int | None = None
    """The effective ClientAliveInterval (None when ``sshd -T`` printed none)."""
    main_client_alive_interval: int | None = None
    """ClientAliveInterval in the main sshd_config (the first uncommented line, as sshd reads)."""
    includes: tuple[str, ...] = ()
    """The main sshd_config's Include lines."""
    effective_text: str = ""
    """The ``sshd -T`` section as printed (evidence)."""
    main_text: str = ""
    """The main sshd_config section as printed (``lineno:text`` lines; evidence)."""


def _main_value(text: str) -> tuple[int | None, list[str]]:
    value: int | None = None
    includes: list[str] = []
    for line in text.splitlines():
        body = line.split(":", 1)[1] if re.match(r"^\d+:", line) else line
        m = re.match(r"^\s*ClientAliveInterval(?:\s+|\s*=\s*)(\d+)", body, re.IGNORECASE)
        if m and value is None:
            value = int(m.group(1))
        elif re.match(r"^\s*Include\b", body, re.IGNORECASE):
            includes.append(body.strip())
    return value, includes


def parse(text: str) -> SshdConfig:
    """Parse the probe's ``### effective`` and ``### main_config`` sections."""
    parts = sections(text)
    effective_text = parts.get("effective") or ""
    main_text = parts.get("main_config") or ""
    settings: dict[str, str] = {}
    for line in effective_text.splitlines():
        key, _, value = line.partition(" ")
        if value and not key.startswith("sshd_"):
            settings.setdefault(key.lower(), value.strip())
    m = re.search(r"^clientaliveinterval (\d+)", effective_text, re.MULTILINE)
    main, includes = _main_value(main_text)
    return SshdConfig(
        absent="sshd_absent" in effective_text,
        effective=settings,
        client_alive_interval=int(m.group(1)) if m else None,
        main_client_alive_interval=main,
        includes=tuple(includes),
        effective_text=effective_text,
        main_text=main_text,
    )


_SSHD_KEYS = (
    "port",
    "clientaliveinterval",
    "clientalivecountmax",
    "permitrootlogin",
    "passwordauthentication",
)
_SSHD_DEFAULTS = {
    "port": "22",
    "clientaliveinterval": "0",
    "clientalivecountmax": "3",
    "permitrootlogin": "without-password",
    "passwordauthentication": "yes",
    "authorizedkeysfile": ".ssh/authorized_keys .ssh/authorized_keys2",
}
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds(value: str) -> str | None:
    """sshd's time format (``180``, ``3m``, ``1h30m``) in seconds; None when invalid."""
    parts = re.findall(r"(\d+)([smhdwSMHDW]?)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return str(sum(int(n) * _TIME_UNITS[u.lower()] for n, u in parts))


def _normalise(key: str, value: str) -> str | None:
    if key == "authorizedkeysfile":  # a word list, kept as written (sshd -T prints it so)
        return " ".join(_value_words(value)) or None
    value = value.strip().strip('"')
    if key == "clientaliveinterval":
        return _seconds(value)
    if key in ("port", "clientalivecountmax"):
        return value if value.isdigit() else None
    value = value.lower()
    return "without-password" if value == "prohibit-password" else value


CONNECTION = {
    "user": "azureuser",
    "host": "client.invalid",
    "addr": "198.51.100.10",
    "laddr": "10.0.0.4",
    "lport": "22",
}
"""The connection the online probe asks ``sshd -T -C`` about: a customer's first login (Azure's
default admin name, an outside address, to port 22 of the first address of Azure's default
subnet 10.0.0.0/24); the offline reading applies Match blocks for it too. It gives no
``rdomain`` (OpenSSH < 7.6 refuses the word), so ``Match RDomain`` never holds."""

SPEC = ",".join(f"{key}={value}" for key, value in CONNECTION.items())
""":data:`CONNECTION` as ``sshd -T -C`` takes it (``sshd.sh`` and ``accounts.sh`` pass it)."""


class ConfigTree(Protocol):
    """What the sshd reading needs of a file tree (:class:`checks.offline.OfflineImage` has it)."""

    def is_file(self, path: str) -> bool: ...

    def lines(self, path: str) -> list[str]: ...

    def glob(self, pattern: str) -> list[str]: ...


def _pattern_list(value: str, patterns: str, *, fold: bool) -> int:
    """OpenSSH's ``match_pattern_list``: 1 when a pattern matches, -1 when a ``!pattern`` does
    (it refuses), else 0; ``*``/``?`` wildcards."""
    subject = value.lower() if fold else value
    hit = 0
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        pattern = pattern[1:] if negated else pattern
        pattern = (pattern.lower() if fold else pattern).replace("[", "[[]")
        if fnmatchcase(subject, pattern):
            if negated:
                return -1
            hit = 1
    return hit


def _patterns(value: str, patterns: str, *, fold: bool) -> bool:
    return _pattern_list(value, patterns, fold=fold) == 1


def _addresses(addr: str | None, patterns: str) -> bool:
    """OpenSSH's ``addr_match_list``: CIDR or wildcard patterns, ``!`` refuses; a malformed CIDR
    is sshd's "Invalid Match address" error, also in the start-up parse (``addr`` None)."""
    hit = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        pattern = pattern[1:] if negated else pattern
        if "/" in pattern:
            try:
                network = ipaddress.ip_network(pattern, strict=True)
            except ValueError:
                raise ValueError(f"invalid Match address {pattern!r}") from None
            matched = addr is not None and ipaddress.ip_address(addr) in network
        else:
            matched = addr is not None and fnmatchcase(addr, pattern.replace("[", "[[]"))
        if matched:
            if negated:
                return False
            hit = True
    return hit


def _records(tree: ConfigTree, path: str) -> list[list[str]]:
    """The colon-separated records of an NSS ``files`` database (/etc/passwd, /etc/group)."""
    if not tree.is_file(path):
        return []
    return [line.split(":") for line in tree.lines(path) if line and not line.startswith("#")]


def _port(tree: ConfigTree, word: str) -> int:
    """OpenSSH's ``a2port``: a number 0-65535 or a TCP service name of the image's
    ``/etc/services`` (``getservbyname``); anything else is sshd's "Invalid LocalPort" error."""
    if re.fullmatch(r"[+-]?\d+", word) and 0 <= int(word) <= 65535:
        return int(word)
    for line in tree.lines("/etc/services") if tree.is_file("/etc/services") else []:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and word in (fields[0], *fields[2:]):
            number, _, protocol = fields[1].partition("/")
            if protocol == "tcp" and number.isdigit():
                return int(number)
    raise ValueError(f"invalid Match LocalPort {word!r}")


def user_groups(tree: ConfigTree, user: str) -> list[str] | None:
    """The groups sshd's ``Match Group`` sees for ``user`` (``match_cfg_line_group``:
    ``getpwnam`` then ``getgrouplist``/``getgrgid``), from the image's own ``/etc/passwd`` and
    ``/etc/group``: the primary group and every group listing the user, each gid named by its
    first entry, a gid without one left out. None when the user has no passwd entry (sshd: "Can't
    match group ... user does not exist"). Only the ``files`` databases are read: an account
    known only to LDAP/SSSD is not on the disk to read."""
    entry = next((r for r in _records(tree, "/etc/passwd") if len(r) >= 4 and r[0] == user), None)
    if entry is None or not entry[3].isdigit():
        return None
    groups = [r for r in _records(tree, "/etc/group") if len(r) >= 4 and r[2].isdigit()]
    gids = [int(entry[3])]
    for record in groups:
        if user in record[3].split(",") and int(record[2]) not in gids:
            gids.append(int(record[2]))
    names = []
    for gid in gids:
        name = next((r[0] for r in groups if int(r[2]) == gid), None)
        if name is not None:
            names.append(name)
    return names


def _group_matches(tree: ConfigTree, user: str, patterns: str) -> bool:
    """``ga_match_pattern_list``: some group matches and none is refused by a ``!pattern``."""
    found = False
    for name in user_groups(tree, user) or []:
        result = _pattern_list(name, patterns, fold=False)
        if result == -1:
            return False
        found = found or result == 1
    return found


_ATTRIBUTES = ("user", "group", "host", "address", "localaddress", "localport", "rdomain")
_NEWEST = (10, 0)
"""The newest Match syntax modelled; an sshd of unknown version is read with it."""


def release_version(release: str | None) -> tuple[int, int] | None:
    """(major, minor) of an ``SSH_RELEASE`` such as ``OpenSSH_10.0p2 Debian-5``; None when
    unknown."""
    m = re.match(r"OpenSSH_(\d+)\.(\d+)", release or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def _words(condition: str, version: tuple[int, int]) -> list[str]:
    """A Match line's criteria as the installed sshd tokenises them, up to a word starting with
    ``#`` (a comment). Before 9.9 ``strdelim`` also splits at ``=`` (``User=alice`` is two
    words); 9.9 switched to ``argv_split`` (commit acad117e6), where it is one word."""
    if version < (9, 9):
        words = [w for w in re.split(r"[ \t\r\n]*=[ \t\r\n]*|[ \t\r\n]+", condition) if w]
    else:
        words = [w for w in re.split(r"[ \t\r\n]+", condition) if w]
    words = [w[1:-1] if len(w) > 1 and w[0] == w[-1] and w[0] in "\"'" else w for w in words]
    return _until_comment(words)


def _match(
    condition: str,
    connection: Mapping[str, str] | None,
    tree: ConfigTree,
    release: str | None = None,
) -> bool:
    """sshd's ``match_cfg_line`` for the installed sshd's ``release`` (None: unknown, read as
    the newest, 10.x): every criterion must hold; without a connection (the start-up parse, or a
    file included from an inactive block) none but ``all`` and ``Version`` does, though malformed
    addresses and ports are still errors; ``Group`` looks the spec's user up in the image's files
    (:func:`user_groups`); ``RDomain`` never holds (the spec gives none). Raises ValueError where
    sshd stops with "Bad Match condition".

    Since 9.9 ``Invalid-User`` holds for a user without a passwd entry (auth.c: ``user_invalid =
    getpwnam(user) == NULL``; servconf.c 0118a4da2). The connection judged is the customer's
    login as the admin user provisioning has just created, so it never holds for it, though the
    image as shipped has no such entry; 9.9 also let it hold in the start-up parse (fixed in
    10.0, af49d474e). 10.0 adds ``Version`` (a pattern list against the sshd's
    ``SSH_RELEASE``, evaluated in both parses: servconf.c V_10_0_P1 lines 1234-1240) and the
    ``attribute=value`` form (3f02368e8). The client's ``exec``, ``tagged``, ``command``,
    ``sessiontype``, ``localnetwork`` ... are ssh_config only (readconf.c): sshd refuses them."""
    version = release_version(release) or _NEWEST
    words = _words(condition, version)
    if not words:
        raise ValueError("Match without criteria")
    if words[0].lower() == "all":
        if len(words) > 1:
            raise ValueError("'all' cannot be combined with other Match attributes")
        return True
    result = True
    while words:
        word = words.pop(0)
        attribute = word.lower()
        if attribute == "invalid-user" and version >= (9, 9):
            if connection is not None or version >= (10, 0):
                result = False  # the provisioned admin user exists when the customer logs in
            continue
        name, equals, argument = word.partition("=")
        if equals and version >= (10, 0) and name.lower() in (*_ATTRIBUTES, "version"):
            attribute = name.lower()  # 10.0's attribute=value (servconf.c V_10_0_P1 1094-1103)
        elif words:
            argument = words.pop(0)
        else:
            raise ValueError(f"missing Match criteria for {attribute}")
        if not argument:
            raise ValueError(f"missing Match criteria for {attribute}")
        if attribute == "version" and version >= (10, 0):
            if release is None:
                raise ValueError(
                    "Match Version needs the installed sshd's release, which neither its binary "
                    "nor the package database gives; certify the booted image instead"
                )
            result = _patterns(release, argument, fold=False) and result
            continue
        if attribute not in _ATTRIBUTES:
            raise ValueError(f"unsupported Match attribute {attribute}")
        if attribute in ("address", "localaddress"):
            key = "addr" if attribute == "address" else "laddr"
            held = _addresses(None if connection is None else connection[key], argument)
        elif attribute == "localport":
            port = _port(tree, argument)  # checked before the connection, as sshd does
            held = connection is not None and port == int(connection["lport"])
        elif connection is None or attribute == "rdomain":
            held = False
        elif attribute == "user":
            held = _patterns(connection["user"], argument, fold=False)
        elif attribute == "host":
            held = _patterns(connection["host"], argument, fold=True)
        else:
            held = _group_matches(tree, connection["user"], argument)
        result = held and result
    return result


def _walk(
    tree: ConfigTree,
    path: str,
    found: dict[str, str],
    connection: Mapping[str, str] | None,
    *,
    active: bool,
    never: bool,
    match_only: bool,
    release: str | None = None,
    keys: tuple[str, ...] = _SSHD_KEYS,
    depth: int = 0,
) -> None:
    """One of sshd's two parses (servconf.c ``parse_server_config_depth``): keywords apply
    while ``active``, the first value wins; ``Include`` reads its files in place and restores
    the Match state after them; a file included from an inactive block never matches
    (``SSHCFG_NEVERMATCH``); before a file's first Match the connection parse ignores its lines
    (``SSHCFG_MATCH_ONLY``)."""
    if depth > 16 or not tree.is_file(path):
        return
    for line in tree.lines(path):
        m = re.match(r"\s*([A-Za-z]+)(?:\s*=\s*|\s+)(.*?)\s*$", line)
        if m is None or line.lstrip().startswith("#"):
            continue
        key, value = m.group(1).lower(), m.group(2)
        if key == "match":
            held = _match(value, None if never else connection, tree, release)
            active = held and not never
            match_only = False
        elif key == "include":
            for word in value.split():
                pattern = word if word.startswith("/") else f"/etc/ssh/{word}"
                for included in tree.glob(pattern):
                    _walk(
                        tree,
                        included,
                        found,
                        connection,
                        active=active,
                        never=not match_only and not active,
                        match_only=match_only,
                        release=release,
                        keys=keys,
                        depth=depth + 1,
                    )
        elif active and key in keys and key not in found:
            normal = _normalise(key, value)
            if normal is not None:
                found[key] = normal


def effective_settings(
    tree: ConfigTree,
    connection: Mapping[str, str] = CONNECTION,
    main: str = "/etc/ssh/sshd_config",
    release: str | None = None,
    keys: tuple[str, ...] = _SSHD_KEYS,
) -> dict[str, str]:
    """What ``sshd -T -C`` prints for ``connection`` for ``keys`` (by default those the checks
    read): the start-up parse gives the global values, the connection parse the values of the
    Match blocks that hold, which win (``copy_set_server_options``; ``Port`` is global only);
    OpenSSH's defaults where neither sets one. ``release`` is the installed sshd's
    ``SSH_RELEASE`` (:func:`sshd_release`; None: unknown). Raises ValueError for a Match line
    sshd refuses."""
    start: dict[str, str] = {}
    _walk(
        tree,
        main,
        start,
        None,
        active=True,
        never=False,
        match_only=False,
        release=release,
        keys=keys,
    )
    matched: dict[str, str] = {}
    _walk(
        tree,
        main,
        matched,
        connection,
        active=False,
        never=False,
        match_only=True,
        release=release,
        keys=keys,
    )
    matched.pop("port", None)
    return {key: matched.get(key, start.get(key, _SSHD_DEFAULTS[key])) for key in keys}


def configured_values(tree: ConfigTree, key: str, main: str = "/etc/ssh/sshd_config") -> list[str]:
    """Every word of every ``key`` line of ``main`` and the files it includes, Match blocks or
    not, in sshd's reading order (Include in place, 16 levels deep), without repeats and without
    ``none``: what some connection could be given. ``accounts.sh`` reads the same lines with
    shell builtins."""
    found: list[str] = []

    def read(path: str, depth: int) -> None:
        if depth > 16 or not tree.is_file(path):
            return
        for line in tree.lines(path):
            m = re.match(r"[ \t\n\r\v\f]*([A-Za-z]+)([ \t\n\r\v\f=].*)$", line)
            if m is None:
                continue
            word, value = m.group(1).lower(), m.group(2).lstrip(" \t\n\r\v\f=")
            if word == "include":
                for pattern in _value_words(value):
                    pattern = pattern if pattern.startswith("/") else f"/etc/ssh/{pattern}"
                    for included in tree.glob(pattern):
                        read(included, depth + 1)
            elif word == key:
                for value_word in _value_words(value):
                    if value_word != "none" and value_word not in found:
                        found.append(value_word)

    read(main, 0)
    return found


def _value_words(value: str) -> list[str]:
    """A keyword's arguments: blank-separated words up to one starting with ``#``."""
    return _until_comment([w for w in re.split(r"[ \t\n\r\v\f]+", value) if w])


def _until_comment(words: list[str]) -> list[str]:
    """The words before the first one starting with ``#`` (sshd reads the rest as a comment)."""
    for index, word in enumerate(words):
        if word.startswith("#"):
            return words[:index]
    return words


def release_in(binary: bytes) -> str | None:
    """The ``SSH_RELEASE`` string compiled into an sshd binary: the NUL-terminated
    ``OpenSSH_X.YpZ`` with Debian's/Ubuntu's `` EXTRAVERSION`` (their version.h), else None."""
    m = re.search(rb"\0(OpenSSH_\d+\.\d+p\d+(?: [!-~]{1,64})?)\0", binary)
    return m.group(1).decode("ascii") if m else None


def sshd_release(image: OfflineImage) -> str | None:
    """The installed sshd's ``SSH_RELEASE`` (what ``Match Version`` compares): the
    NUL-terminated ``OpenSSH_X.YpZ[ EXTRA]`` string of its binary (Debian and Ubuntu append
    their package revision), else from the openssh-server package (Debian/Ubuntu: ``OpenSSH_X.YpZ
    Debian-REV``/``Ubuntu-REV`` as their version.h builds it); None when neither says."""

    def compute() -> str | None:
        from images.fs import ImagePathError

        for path in ("/usr/sbin/sshd", "/usr/bin/sshd"):
            if image.is_executable(path):
                try:
                    raw = image.read_bytes(path, 64 * 1024 * 1024)
                except ImagePathError:  # unreadable or too big: ask the package database
                    break
                found = release_in(raw)
                if found is not None:
                    return found
                break
        from checks.offline.packages import installed

        package = installed(image.packages, "openssh-server")
        upstream, _, revision = (
            (package.version if package else "").rpartition(":")[2].partition("-")
        )
        if not re.fullmatch(r"\d+\.\d+p\d+", upstream):
            return None
        if image.packages.kind == "dpkg" and revision:  # their version.h adds SSH_EXTRAVERSION
            return f"OpenSSH_{upstream} {'Ubuntu' if 'ubuntu' in revision else 'Debian'}-{revision}"
        return f"OpenSSH_{upstream}"

    return image.memo("sshd_release", compute)


def read_offline(image: OfflineImage) -> str:
    """The effective settings for a customer's connection (:func:`effective_settings`: Include
    drop-ins and Match blocks as ``sshd -T -C`` applies them, sshd's defaults where unset), and
    the main file's ClientAliveInterval/Include lines."""
    out = ["### effective"]
    if not (image.is_executable("/usr/sbin/sshd") or image.is_executable("/usr/bin/sshd")):
        out.append("sshd_absent")
    else:
        from checks.offline.image import OfflineError  # the offline package imports the facts

        release = sshd_release(image)
        try:
            found = effective_settings(image, release=release)
        except ValueError as exc:  # sshd itself would not start with this configuration
            raise OfflineError(f"/etc/ssh/sshd_config: {exc}") from None
        out += [f"{key} {value}" for key, value in found.items()]
        out.append(
            f"sshd_t_offline=from the configuration files (Include and Match for {SPEC}; "
            "Group and Invalid-User from the image's /etc/passwd and /etc/group; Version and "
            f"syntax of {release or 'an sshd of unknown release, read as 10.x'}; sshd not run)"
        )
    out.append("### main_config")
    if image.is_file("/etc/ssh/sshd_config"):
        for number, line in enumerate(image.lines("/etc/ssh/sshd_config"), 1):
            if re.match(r"[ \t\n\r\v\f]*(clientaliveinterval|include)[ \t\n\r\v\f=]", line, re.I):
                out.append(f"{number}:{line}")
    return "\n".join(out) + "\n"


FACT = fact(
    "sshd",
    parse,
    needs_root=True,
    timeout=15,
    description=(
        "sshd -T effective settings and the ClientAliveInterval/Include lines of sshd_config"
    ),
    offline=read_offline,
    offline_note=(
        "effective values for a customer's connection from sshd_config, its Include drop-ins and "
        "Match blocks (sshd -T -C is not run)"
    ),
)
