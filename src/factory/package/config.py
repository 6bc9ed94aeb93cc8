"""Config of the `package` stage."""

from pydantic import Field

from factory.config import Section


class PackageConfig(Section):
    name: str = Field("phantom-demo", pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: str = Field("v0.1.0", pattern=r"^v\d+\.\d+\.\d+$")
