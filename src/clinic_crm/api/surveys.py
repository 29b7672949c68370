"""``crm.surveys``: surveys and their versions, invitations, responses, follow-ups and the metrics."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup, overloaded_service, service
from clinic_crm.services.surveys import follow_ups as _follow_ups
from clinic_crm.services.surveys import frame as _frame
from clinic_crm.services.surveys import invitations, plot, responses, stats, surveys
from clinic_crm.services.surveys.stats import CsatResult, MetricCall, NpsResult, ResponseRate

__all__ = ["SurveysAPI"]


class SurveysAPI(ServiceGroup):
    """Create surveys, invite patients, take responses and report the metrics."""

    create = service(surveys.create_survey)
    update = service(surveys.update_survey)
    new_version = service(surveys.update_survey)
    get = service(surveys.get_survey)
    latest = service(surveys.latest_survey)
    invite = service(invitations.invite)
    invite_completed = service(invitations.invite_completed)
    get_invitation = service(invitations.get_invitation)
    submit = service(responses.submit)
    get_response = service(responses.get_response)
    follow_ups = service(_follow_ups.list_follow_ups)
    close_follow_up = service(_follow_ups.close_follow_up)
    nps = overloaded_service[MetricCall[NpsResult]](stats.nps)
    csat = overloaded_service[MetricCall[CsatResult]](stats.csat)
    response_rate = overloaded_service[MetricCall[ResponseRate]](stats.response_rate)
    frame = service(_frame.survey_frame)
    plot_nps = service(plot.plot_nps)
