"""One synthetic test resident per configured region (valid check characters, random otherwise).

Onboarding a province adds its row here; ``test_every_configured_region_has_a_test_resident``
fails until it does, and every test that walks the regions (issue, verify over HTTP, transcode
between any two, trust list, regions endpoint) then covers the new one by itself."""
from __future__ import annotations

RESIDENTS = {  # region: (ID number, name, id_type)
    "440000": ("440106197209116424", "陈秀英", "resident"),
    "310000": ("310115193302201761", "王桂兰", "resident"),
    "510000": ("510107199501013071", "张伟", "resident"),
    "110000": ("11010519491231002X", "欧阳建国", "resident"),
    "330000": ("330102195203154120", "钱淑芬", "resident"),
    "820000": ("1234567(8)", "陳大文", "macau_id"),
}
