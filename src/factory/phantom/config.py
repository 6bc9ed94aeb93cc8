"""Config of the `phantom` stage: the embedded synthetic mammography dataset.

Imports only pydantic and the standard library, so loading params never pulls in numpy
or pydicom.
"""

from typing import Literal

from pydantic import Field

from factory.config import Section

LAYOUTS = ("inbreast", "rsna", "cbis-ddsm", "vindr", "mias", "folder")
Layout = Literal["inbreast", "rsna", "cbis-ddsm", "vindr", "mias", "folder"]


class PhantomConfig(Section):
    """How big the phantom set is and in which public dataset's layout it is written.

    The defaults make the demo set (about 230 images, INbreast has 410 from 115 patients);
    there is no paper-scale value for a phantom, so demo and default agree.
    """

    patients: int = Field(
        65, ge=1, le=100_000, description="Phantom women; each has 2 to 4 views (~3.5)."
    )
    height: int = Field(
        512,
        ge=64,
        le=4084,
        description="Image height in pixels (4084 is INbreast's full size); width follows "
        "the layout's aspect ratio.",
    )
    layout: Layout = Field(
        "inbreast", description="On-disk layout to write: " + ", ".join(LAYOUTS) + "."
    )
    workers: int = Field(
        2, ge=1, le=64, description="Worker processes rendering images (bytes do not depend on it)."
    )
