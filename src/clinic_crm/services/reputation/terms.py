"""The shipped negative-term lists (English and Chinese) used to judge mentions without a rating.

Matching folds text with NFKC and ``casefold`` (:func:`clinic_crm.services.reputation.sentiment.fold`), so the
English terms are written in lower case.  The Chinese list is Traditional Chinese, followed by the Simplified
form of every term whose Simplified spelling differs: mentions copied from mainland sites or typed with a
Simplified input method match too.  (A converter such as ``opencc`` would fold whole texts, but it is a
compiled package with its own dictionaries for what is, here, a few dozen fixed terms; listing both spellings
costs nothing at ingest time.)
"""

from __future__ import annotations

__all__ = ["NEGATIVE_TERMS_EN", "NEGATIVE_TERMS_ZH_HANT", "NEGATIVE_TERMS_ZH_HANS", "DEFAULT_NEGATIVE_TERMS"]

NEGATIVE_TERMS_EN: tuple[str, ...] = (
    "terrible",
    "horrible",
    "awful",
    "worst",
    "rude",
    "unprofessional",
    "dirty",
    "painful",
    "misdiagnosed",
    "malpractice",
    "overcharged",
    "scam",
    "never again",
    "do not recommend",
    "don't recommend",
    "waste of time",
    "waited for hours",
    "disappointed",
    "negligent",
    "infection",
    "lawsuit",
    "refund",
)

NEGATIVE_TERMS_ZH_HANT: tuple[str, ...] = (
    "態度差",
    "態度很差",
    "很差",
    "爛",
    "糟糕",
    "失望",
    "不推薦",
    "不推",
    "雷",
    "踩雷",
    "誤診",
    "醫療疏失",
    "感染",
    "騙",
    "詐騙",
    "亂收費",
    "收費不合理",
    "等很久",
    "等太久",
    "不專業",
    "不衛生",
    "很痛",
    "投訴",
    "客訴",
    "退費",
    "告",
    "再也不",
    "黑店",
)

#: The Simplified spelling of each Traditional term above that is spelt differently.
NEGATIVE_TERMS_ZH_HANS: tuple[str, ...] = (
    "态度差",
    "态度很差",
    "烂",
    "失望",
    "不推荐",
    "误诊",
    "医疗疏失",
    "骗",
    "诈骗",
    "乱收费",
    "收费不合理",
    "等很久",
    "不专业",
    "不卫生",
    "退费",
    "黑店",
)

#: The list a clinic uses until it gives its own (``crm.reputation.watch(…, negative_terms=[…])``).
DEFAULT_NEGATIVE_TERMS: tuple[str, ...] = tuple(
    dict.fromkeys((*NEGATIVE_TERMS_EN, *NEGATIVE_TERMS_ZH_HANT, *NEGATIVE_TERMS_ZH_HANS))
)
