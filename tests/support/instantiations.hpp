// instantiations.hpp — the index classes the specifications use most, instantiated once per build.
//
// Every specification file instantiated FlatIndex and HnswIndex (and load_any_flat / load_any_hnsw
// instantiate all three metrics) and optimised its own copy at -O3; that duplicated work was most
// of a cold test build. tests/meson.build force-includes this header (-include) into the files of
// test_specification, so they only declare these specializations (extern template), and
// instantiate_flat.cpp / instantiate_hnsw.cpp define them. Member functions stay inline, so the
// optimiser may still inline them; it no longer compiles a full copy per file. A test file builds
// the same without this header. Whole classes only (no function signatures), so a library change
// breaks this list only if a member stops compiling for one of these arguments. HnswIndex's bases
// (index/hnsw/), KeyspaceIndex's (source/keyspace/) and both indexes' front end are listed too:
// instantiating a class does not instantiate its bases' members.
#pragma once

#include "vindex/vindex.hpp"

// PREFIX is `extern` (declaration) or empty (definition).
// The front end both index types derive from (index/front_end.hpp), for one index and metric.
#define VINDEX_TEST_FRONT_END(PREFIX, INDEX, METRIC)                                       \
  PREFIX template class vindex::detail::IndexFrontEnd<INDEX<float, METRIC>, METRIC>;
// KeyspaceIndex over one index type (the arguments): its bases (source/keyspace/), then the class.
// Only over HnswIndex: KeyspaceIndex's members that need a capability FlatIndex lacks (run_batch,
// maintain_for) are constrained, which C++20 exempts from an explicit instantiation, but clang 14
// (the sanitizer build's compiler) instantiates them anyway.
#define VINDEX_TEST_KEYSPACE(PREFIX, ...)                                                   \
  PREFIX template struct vindex::detail::KeyspaceCore<__VA_ARGS__>;                              \
  PREFIX template struct vindex::detail::KeyspaceWrites<__VA_ARGS__>;                            \
  PREFIX template struct vindex::detail::KeyspaceScan<__VA_ARGS__>;                              \
  PREFIX template struct vindex::detail::KeyspaceRestore<__VA_ARGS__>;                           \
  PREFIX template class vindex::KeyspaceIndex<__VA_ARGS__>;
#define VINDEX_TEST_FLAT_INSTANTIATIONS(PREFIX)                                          \
  VINDEX_TEST_FRONT_END(PREFIX, vindex::FlatIndex, vindex::metric::L2)                     \
  VINDEX_TEST_FRONT_END(PREFIX, vindex::FlatIndex, vindex::metric::InnerProduct)           \
  VINDEX_TEST_FRONT_END(PREFIX, vindex::FlatIndex, vindex::metric::Cosine)                 \
  PREFIX template class vindex::FlatIndex<float, vindex::metric::L2>;                      \
  PREFIX template class vindex::FlatIndex<float, vindex::metric::InnerProduct>;            \
  PREFIX template class vindex::FlatIndex<float, vindex::metric::L2, vindex::Sq8>;          \
  PREFIX template class vindex::FlatIndex<float, vindex::metric::Cosine>;
// HnswIndex's bases (index/hnsw/) for one metric, over float vectors.
#define VINDEX_TEST_HNSW_PARTS(PREFIX, METRIC)                                           \
  VINDEX_TEST_FRONT_END(PREFIX, vindex::HnswIndex, METRIC)                                 \
  PREFIX template struct vindex::detail::HnswGraph<vindex::detail::VectorCodec<float, METRIC>>;   \
  PREFIX template struct vindex::detail::HnswSearch<vindex::detail::VectorCodec<float, METRIC>>;  \
  PREFIX template struct vindex::detail::HnswLinking<vindex::detail::VectorCodec<float, METRIC>>; \
  PREFIX template struct vindex::detail::HnswRepair<vindex::detail::VectorCodec<float, METRIC>>;
#define VINDEX_TEST_HNSW_INSTANTIATIONS(PREFIX)                                                         \
  VINDEX_TEST_HNSW_PARTS(PREFIX, vindex::metric::L2)                                                    \
  VINDEX_TEST_HNSW_PARTS(PREFIX, vindex::metric::InnerProduct)                                          \
  VINDEX_TEST_HNSW_PARTS(PREFIX, vindex::metric::Cosine)                                                \
  PREFIX template class vindex::HnswIndex<float, vindex::metric::L2>;                                   \
  PREFIX template class vindex::HnswIndex<float, vindex::metric::L2, vindex::Sq8>;                      \
  PREFIX template class vindex::HnswIndex<float, vindex::metric::InnerProduct>;                         \
  PREFIX template class vindex::HnswIndex<float, vindex::metric::Cosine>;                               \
  VINDEX_TEST_KEYSPACE(PREFIX, vindex::HnswIndex<float, vindex::metric::L2>)

VINDEX_TEST_FLAT_INSTANTIATIONS(extern)
VINDEX_TEST_HNSW_INSTANTIATIONS(extern)
