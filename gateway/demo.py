"""Demo residents for ``make run``: at least one person per demo region.  Guangdong's people
live in Foshan (4406…); Shenzhen (4403…) and Guangzhou (4401…) issue for their own under Guangdong,
so a kiosk finds each of them through their city's issuer.

The ID numbers are synthetic (valid check characters, random otherwise).
"""
from __future__ import annotations

DEMO_RESIDENTS = [
    {"region": "440300", "id_number": "440305193606300643", "name": "陈秀英", "facts": {}},
    {"region": "440100", "id_number": "440106199901056850", "name": "李明", "facts": {"close_contact": True}},
    {"region": "440000", "id_number": "440604195508203320", "name": "何丽珍", "facts": {}},
    {"region": "310000", "id_number": "310115193302201761", "name": "王桂兰",
     "facts": {"tests": [{"result": "negative", "at": "2000-01-01T00:00:00Z"}]}},
    {"region": "510000", "id_number": "510107199501013071", "name": "张伟", "facts": {}},
    {"region": "110000", "id_number": "110101197612039635", "name": "刘建国", "facts": {}},
    {"region": "330000", "id_number": "330102195203154120", "name": "钱淑芬", "facts": {}},
]


def seed(service) -> list[dict]:
    from issuers import make_person
    service.administration.issuer_tokens()
    service.trust.trust_list()
    rows = []
    for resident in DEMO_RESIDENTS:
        person = make_person(resident["id_number"], resident["name"])
        status = None if resident["facts"] or resident["region"] != "310000" else "green"
        issued = service.issuing.issue(resident["region"], person, facts=resident["facts"], status=status)
        rows.append({"region": resident["region"], "name_masked": issued.claims["name_masked"],
                     "status": issued.claims["status"], "reasons": issued.claims["reasons"],
                     "qr_text": issued.qr_text})
    return rows
