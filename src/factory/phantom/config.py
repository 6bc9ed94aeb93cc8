"""Config of the `phantom` stage: the embedded INbreast-layout phantom dataset."""

from pydantic import Field

from factory.config import Section


class PhantomConfig(Section):
    patients: int = Field(60, ge=1, description="Number of phantom patients.")
    height: int = Field(512, ge=64, le=4084, description="Image height in pixels.")
