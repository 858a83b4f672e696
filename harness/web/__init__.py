"""The publisher console and JSON API over the publishing pipeline's store.

One module per concept: configuration (:mod:`.config`), accounts, sessions and CSRF
(:mod:`.auth`), request-size and rate limits (:mod:`.limits`), which actions the rules allow
(:mod:`.actions`), the HTML pages (:mod:`.pages`), the CPP-shaped JSON API (:mod:`.api`) and its
OpenAPI document (:mod:`.openapi`), the application (:mod:`.app`) and ``vmcert serve``
(:mod:`.cli`). Templates are Jinja2 with autoescaping; the one script and stylesheet are ours
(``static/``), nothing comes from a CDN.
"""
