// The HnswIndex and KeyspaceIndex specializations declared in instantiations.hpp.
#include "support/instantiations.hpp"

VINDEX_TEST_HNSW_INSTANTIATIONS()
