"""A configuration with city issuers under their province's delegation (§7.1): the project's own
config/regions.toml when it has Guangzhou (440100), else that file with Guangzhou added as a city
of Guangdong issuing 粤康码-format codes."""
from __future__ import annotations

from pathlib import Path

from support.paths import ROOT

CITY, PROVINCE = "440100", "440000"

STAND_IN = '''
[[region]]
code = "440100"
name = "广州"
name_en = "Guangzhou"
parent = "440000"
format = "yuekang"
algorithms = ["ES256"]
dynamic_ttl = 180
[region.rules]
positive_test = "red"
close_contact = "red"
high_risk_travel = { status = "yellow", days = 14 }
medium_risk_travel = { status = "yellow", days = 7 }
symptoms = "yellow"
test_required_days = 0
'''


def city_config(folder: Path) -> Path:
    text = (ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
    if f'code = "{CITY}"' not in text:
        text += STAND_IN
    path = Path(folder) / "regions-cities.toml"
    path.write_text(text, encoding="utf-8")
    return path
