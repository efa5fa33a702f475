"""The transport: Starlette routes for HTTP, the websocket endpoint and pages. Thin.

Importing the package first registers the bounded ``{name:int}`` path convertor below,
so every route built afterwards (they are built when their modules are imported) uses it.
"""

from starlette.convertors import IntegerConvertor, register_url_convertor


class BoundedIntConvertor(IntegerConvertor):
    """``{name:int}`` of at most 18 digits: every id fits a 64-bit column, so a longer
    number is no route (404) rather than a database overflow (500). Found by the OpenAPI
    fuzz (tests/integration/test_openapi_fuzz.py)."""

    regex = "[0-9]{1,18}"


register_url_convertor("int", BoundedIntConvertor())
