// vindex/vindex.hpp — everything in one include.
//
// Layers, lowest first: core (types, errors, limits, memory resources and accounts, schema, blobs), distance (metrics and SIMD
// kernels), storage (block arrays, key maps, graph lists, visited sets), index (filters, FlatIndex,
// HnswIndex), source (host keyspaces: KeyValueSource, IndexDefinition, attribute filters, backfill,
// KeyspaceIndex), persist (byte streams, the snapshot format, FlatIndex, HnswIndex and
// KeyspaceIndex snapshots). vindex/version.hpp: VINDEX_VERSION_* and vindex::version.
#pragma once

#include "vindex/version.hpp"

#include "vindex/core/blob.hpp"
#include "vindex/core/deadline.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/executor.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/core/memory.hpp"
#include "vindex/core/schema.hpp"
#include "vindex/core/types.hpp"
#include "vindex/distance/metric.hpp"
#include "vindex/distance/scalar.hpp"
#include "vindex/distance/simd.hpp"
#include "vindex/index/capabilities.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/index/flat_index.hpp"
#include "vindex/index/front_end.hpp"
#include "vindex/index/hnsw_index.hpp"
#include "vindex/index/top_k.hpp"
#include "vindex/index/vector_index.hpp"
#include "vindex/source/attribute_index.hpp"
#include "vindex/source/backfill.hpp"
#include "vindex/source/filter_expression.hpp"
#include "vindex/source/index_definition.hpp"
#include "vindex/source/key_value_source.hpp"
#include "vindex/source/keyspace_index.hpp"
#include "vindex/source/memory_source.hpp"
#include "vindex/source/shard_merge.hpp"
#include "vindex/storage/block_array.hpp"
#include "vindex/storage/growth.hpp"
#include "vindex/storage/key_map.hpp"
#include "vindex/storage/upper_links.hpp"
#include "vindex/storage/visited_set.hpp"
#include "vindex/persist/chunked_stream.hpp"
#include "vindex/persist/crc32c.hpp"
#include "vindex/persist/file_stream.hpp"
#include "vindex/persist/flat_snapshot.hpp"
#include "vindex/persist/hnsw_snapshot.hpp"
#include "vindex/persist/keyspace_snapshot.hpp"
#include "vindex/persist/little_endian.hpp"
#include "vindex/persist/memory_stream.hpp"
#include "vindex/persist/payload.hpp"
#include "vindex/persist/serializer.hpp"
#include "vindex/persist/snapshot_format.hpp"
#include "vindex/persist/snapshot_options.hpp"
