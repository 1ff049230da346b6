"""SageMaker Search, without a server: which resource types it serves, which property names each has (from
botocore's model of the Search record), and the parsing of a request's SearchExpression into the store's
typed :class:`~shipyard.metastore.search_query.SearchQuery`, with a ValidationException naming what is wrong.
"""

from .request import parse_search
from .types import SEARCH_TYPES, SearchType

__all__ = ["SEARCH_TYPES", "SearchType", "parse_search"]
