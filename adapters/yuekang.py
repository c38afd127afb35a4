"""粤康码 (Guangdong): pinyin-initial claim names, colour words in pinyin, seconds, ``YKM1:``."""
from adapters.base import JwsClaimFormat
from adapters.contract import register

ADAPTER = register(JwsClaimFormat(
    name="yuekang",
    title="粤康码",
    title_en="Yuekang code",
    prefix="YKM1:",
    fields={
        "ver": "bb",            # 版本
        "region": "fkdq",       # 发卡地区
        "sub": "yhbs",          # 用户标识
        "jti": "mbh",           # 码编号
        "iat": "qfsj",          # 签发时间
        "exp": "yxqz",          # 有效期至
        "kind": "mlx",          # 码类型
        "status": "mys",        # 码颜色
        "reasons": "yy",        # 原因
        "name_masked": "xm",    # 姓名
        "id_masked": "zjhm",    # 证件号码
        "id_type": "zjlx",      # 证件类型
        "prov": "ly",           # 来源
        "dep": "bd",            # 绑定
    },
    values={
        "status": {"green": "lvma", "yellow": "huangma", "red": "hongma"},
        "kind": {"dynamic": "dt", "offline": "lx"},
        "id_type": {"resident": "sfz", "passport": "hz", "hkmo_permit": "gatxz",
                    "tw_permit": "twtxz", "macau_id": "amsfz", "hk_id": "xgsfz",
                    "foreign_permit": "wgrjlz", "unspecified": "qt"},
    },
))
