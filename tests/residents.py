"""Every person the tests and benchmarks use, defined once (synthetic: valid check characters,
random otherwise), and ``RESIDENTS``: one of them per configured region.

Onboarding a province adds its row to ``RESIDENTS``; ``test_every_configured_region_has_a_test_resident``
fails until it does, and every test that walks the regions (issue, verify over HTTP, transcode
between any two, trust list, regions endpoint) then covers the new one by itself.  A test that
needs someone particular (an elder, a child, a Macau ID card) names them from this roster; its
own tables (expected colours, who is whose dependent) are built from these names."""
from __future__ import annotations

from typing import NamedTuple


class Resident(NamedTuple):
    id_number: str
    name: str
    id_type: str = "resident"

    @property
    def id_and_name(self) -> tuple[str, str]:
        return self.id_number, self.name


# Guangdong's own people live outside the cities that issue under it: Foshan (4406) has no issuer
# of its own here, so its people are the province's (Guangzhou's 4401 and Shenzhen's 4403 are not).
GD_RESIDENT = Resident("440604197209116429", "陈秀英")
GD_ELDER = Resident("440604193606300643", "陈秀英")          # born 1936
GD_YOUNG = Resident("440604199901056855", "李明")            # born 1999
SH_ELDER = Resident("310115193302201761", "王桂兰")          # born 1933
SC_RESIDENT = Resident("510107199501013071", "张伟")
SC_CHILD = Resident("510107201804272337", "张小宝")          # born 2018: a dependent
BJ_RESIDENT = Resident("11010519491231002X", "欧阳建国")
BJ_ELDER = Resident("11010519491231002X", "刘淑珍")          # BJ_RESIDENT's number under another name
BJ_ADULT = Resident("110101197612039635", "刘建国")
ZJ_RESIDENT = Resident("330102195203154120", "钱淑芬")
ZJ_ADULT = Resident("330382198807063015", "周建华")
MO_RESIDENT = Resident("1234567(8)", "陳大文", "macau_id")   # a Macau identity card
GZ_RESIDENT = Resident("44010419850312251X", "黄嘉欣")       # Guangzhou (4401): the city's issuer
SZ_ELDER = Resident("440304194008151025", "林美华")          # Shenzhen (4403), born 1940
SZ_CHILD = Resident("440304201906032418", "林子轩")          # Shenzhen, born 2019: SZ_ELDER's dependent

RESIDENTS = {  # region: (ID number, name, id_type)
    "440000": GD_RESIDENT,
    "440100": GZ_RESIDENT,
    "440300": SZ_ELDER,
    "310000": SH_ELDER,
    "510000": SC_RESIDENT,
    "110000": BJ_RESIDENT,
    "330000": ZJ_RESIDENT,
    "820000": MO_RESIDENT,
}
