"""穗康码 (Guangzhou, a city issuing under Guangdong): pinyin claim names written out, colour
words in pinyin, millisecond times, ``SKM1:``."""
from adapters.base import JwsClaimFormat
from adapters.contract import register

ADAPTER = register(JwsClaimFormat(
    name="suikang",
    title="穗康码",
    title_en="Suikang code",
    prefix="SKM1:",
    time="millis",
    fields={
        "ver": "banben",            # 版本
        "region": "quhua",          # 区划
        "sub": "yonghu",            # 用户
        "jti": "mahao",             # 码号
        "iat": "qianfa",            # 签发
        "exp": "youxiao",           # 有效
        "kind": "leixing",          # 类型
        "status": "yanse",          # 颜色
        "reasons": "yuanyin",       # 原因
        "name_masked": "xingming",  # 姓名
        "id_masked": "zhengjian",   # 证件
        "id_type": "zhengjianlx",   # 证件类型
        "prov": "laiyuan",          # 来源
        "dep": "daicha",            # 代查
    },
    values={
        "status": {"green": "lv", "yellow": "huang", "red": "hong"},
        "kind": {"dynamic": "shouji", "offline": "zhizhi"},
    },
))
