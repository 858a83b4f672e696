"""The pure stage model: the seven stages and the transition table."""

from __future__ import annotations

import pytest

from harness.publish.history import What
from harness.publish.model import (
    IDLE,
    ORDER,
    STAGES,
    Action,
    CancelWindow,
    Notice,
    OfferStatus,
    RequestStatus,
    Stage,
    StepStatus,
    TransitionRefused,
    Where,
    decide,
    offer_status,
)


def test_the_seven_stages_in_order_with_cpp_step_ids() -> None:
    assert [(i.step_id, i.name, i.estimate) for i in STAGES] == [
        ("displaydummycertify", "Validate Pre-Requisites", "< 1 day"),
        ("displaycertify", "Certification", "< 5 days"),
        ("displayprovision", "Provisioning", "< 1 day"),
        ("displaypackage", "Packaging and Lead Generation Registration", "< 1 hour"),
        ("preview", "Offer Available in Preview", ""),
        ("publisher-signoff", "Publisher signoff", ""),
        ("live", "Live", ""),
    ]
    assert [i.automatic for i in STAGES] == [True] * 5 + [False, True]


def test_publish_starts_at_step_one_and_a_second_is_refused() -> None:
    decision = decide(IDLE, Action.PUBLISH)
    assert decision.start is Stage.VALIDATE and decision.request_status is RequestStatus.RUNNING
    assert decision.history is What.SUBMITTED
    assert {status for _, status in decision.stages} == {StepStatus.NOT_STARTED}
    for where in (
        Where(RequestStatus.RUNNING, Stage.PROVISIONING),
        Where(RequestStatus.WAITING, Stage.SIGNOFF),
    ):
        with pytest.raises(TransitionRefused, match="already running"):
            decide(where, Action.PUBLISH)
    for ended in (RequestStatus.FAILED, RequestStatus.CANCELED, RequestStatus.SUCCEEDED):
        assert decide(Where(ended, Stage.CERTIFICATION), Action.PUBLISH).start is Stage.VALIDATE


def test_success_walks_every_stage_and_waits_at_signoff() -> None:
    where = Where(RequestStatus.RUNNING, Stage.VALIDATE)
    walked = [Stage.VALIDATE]
    while True:
        decision = decide(where, Action.COMPLETED)
        if decision.start is None:
            break
        walked.append(decision.start)
        where = Where(decision.request_status, decision.start)
    assert walked == list(ORDER[:5])
    assert decision.request_status is RequestStatus.WAITING
    assert (Stage.SIGNOFF, StepStatus.WAITING) in decision.stages
    assert decision.notice is Notice.PREVIEW
    with pytest.raises(TransitionRefused, match="only with Go live"):
        decide(Where(RequestStatus.WAITING, Stage.SIGNOFF), Action.COMPLETED)
    live = decide(Where(RequestStatus.WAITING, Stage.SIGNOFF), Action.GO_LIVE)
    assert live.start is Stage.LIVE and live.history is What.SIGNED_OFF
    done = decide(Where(RequestStatus.RUNNING, Stage.LIVE), Action.COMPLETED)
    assert done.request_status is RequestStatus.SUCCEEDED and done.notice is Notice.LIVE


@pytest.mark.parametrize("stage", [s for s in ORDER if s is not Stage.SIGNOFF])
def test_a_failure_blocks_the_stage_fails_the_request_and_mails(stage: Stage) -> None:
    decision = decide(Where(RequestStatus.RUNNING, stage), Action.FAILED)
    assert decision.stages == ((stage, StepStatus.BLOCKED),)
    assert decision.request_status is RequestStatus.FAILED and decision.notice is Notice.ERROR


@pytest.mark.parametrize("stage", ORDER)
def test_cancel_only_at_signoff_by_default(stage: Stage) -> None:
    status = RequestStatus.WAITING if stage is Stage.SIGNOFF else RequestStatus.RUNNING
    where = Where(status, stage)
    if stage is Stage.SIGNOFF:
        decision = decide(where, Action.CANCEL)
        assert decision.request_status is RequestStatus.CANCELED
        assert decision.stages == tuple((s, StepStatus.NOT_STARTED) for s in ORDER)
    else:
        with pytest.raises(TransitionRefused, match="only once the request reaches Publisher"):
            decide(where, Action.CANCEL)


@pytest.mark.parametrize("stage", ORDER)
def test_cancel_window_before_signoff_is_the_opposite(stage: Stage) -> None:
    window = CancelWindow.BEFORE_SIGNOFF
    status = RequestStatus.WAITING if stage is Stage.SIGNOFF else RequestStatus.RUNNING
    if ORDER.index(stage) < ORDER.index(Stage.SIGNOFF):
        decision = decide(Where(status, stage), Action.CANCEL, window)
        assert decision.stages == ((stage, StepStatus.CANCELED),)
    else:
        with pytest.raises(TransitionRefused, match="only before Publisher signoff"):
            decide(Where(status, stage), Action.CANCEL, window)


def test_go_live_and_cancel_need_a_running_request() -> None:
    for action in (Action.GO_LIVE, Action.CANCEL):
        with pytest.raises(TransitionRefused, match="no publish request is running"):
            decide(IDLE, action)
    with pytest.raises(TransitionRefused, match="only at Publisher signoff"):
        decide(Where(RequestStatus.RUNNING, Stage.PREVIEW), Action.GO_LIVE)


def test_offer_status_from_the_newest_request() -> None:
    assert offer_status(None) is OfferStatus.NEVER_PUBLISHED
    assert offer_status(RequestStatus.RUNNING, Stage.CERTIFICATION) is OfferStatus.IN_PROGRESS
    assert offer_status(RequestStatus.WAITING, Stage.SIGNOFF) is OfferStatus.PREVIEW
    assert offer_status(RequestStatus.FAILED, Stage.CERTIFICATION) is OfferStatus.ATTENTION
    assert offer_status(RequestStatus.SUCCEEDED, Stage.LIVE) is OfferStatus.LIVE
    assert offer_status(RequestStatus.CANCELED) is OfferStatus.CANCELED
