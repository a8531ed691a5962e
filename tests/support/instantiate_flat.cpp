// The FlatIndex specializations declared in instantiations.hpp.
#include "support/instantiations.hpp"

VINDEX_TEST_FLAT_INSTANTIATIONS()
