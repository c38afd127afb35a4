"""One ordinary day of the whole service — issue, print, transcode, bind a dependant, reissue
(once with a wrong name), verify, revoke — shared by the "no personal data at rest" tests of both
store backends, so they look at the same traces."""
from __future__ import annotations

import pytest

from gateway.credentials import Principal
from standard.errors import HealthCodeError
from issuers import make_person
from residents import BJ_ELDER, GD_ELDER, MO_RESIDENT, SC_CHILD, SH_ELDER

PEOPLE = [("440000", *GD_ELDER), ("310000", *SH_ELDER), ("510000", *SC_CHILD), ("110000", *BJ_ELDER),
          ("820000", *MO_RESIDENT)]          # (region, ID number, name, id_type)


def live_a_day(service) -> list:
    operator = Principal("operator", "op-1")
    issued = []
    for region, id_number, name, id_type in PEOPLE:
        person = make_person(id_number, name, id_type)
        issued.append(service.issuing.issue(region, person, facts={"close_contact": True}))
        service.issuing.print_cards([(region, person, None)])
    service.issuing.transcode(issued[0].qr_text, "820000")
    holder, child = make_person(*PEOPLE[0][1:]), make_person(*PEOPLE[2][1:])
    service.people.bind_dependent(operator, holder, child, "child", {"method": "signed_form", "reference": "F-1"})
    service.issuing.reissue("440000", service.issuing.subject(holder), "陈秀英")
    with pytest.raises(HealthCodeError):
        service.issuing.reissue("440000", service.issuing.subject(holder), "错名字")
    for code in issued:
        service.verification.verify(code.qr_text, place="站", device="d")
    service.verification.verify("not a code", place="站", device="d")
    service.issuing.revoke_subject(service.issuing.subject(holder), {"role": "issuer", "id": "gd"})
    service.trust.revoke_foreign("eu_dcc", ["URN:UVCI:01:DE:SECRET-UVCI#1"], {"role": "data_manager", "id": "dm"})
    return issued


def plain_needles():
    """Every form of every person's ID number and name that must never be found at rest."""
    for _, id_number, name, id_type in PEOPLE:
        yield from {id_number, make_person(id_number, name, id_type).id_number, name}
    yield "SECRET-UVCI"
