"""Jobs: the typed record of a generation from request to delivered result."""

from bot.jobs.codec import SPEC_VERSION, SpecDecodeError, decode_spec, encode_spec
from bot.jobs.spec import (
    Feature,
    ImagineOptions,
    JobSpec,
    Lineage,
    Origin,
    PartyRef,
    RegionEdit,
    Render,
)

__all__ = [
    "SPEC_VERSION",
    "Feature",
    "ImagineOptions",
    "JobSpec",
    "Lineage",
    "Origin",
    "PartyRef",
    "RegionEdit",
    "Render",
    "SpecDecodeError",
    "decode_spec",
    "encode_spec",
]
