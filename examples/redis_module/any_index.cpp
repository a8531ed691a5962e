// examples/redis_module/any_index.cpp — the instantiations behind AnyIndex: FLAT and HNSW for each
// metric and TYPE, and their SQ8 forms over FLOAT32.
#include "any_index.hpp"

#include <chrono>

#include "vindex/distance/metric.hpp"
#include "vindex/index/capabilities.hpp"
#include "vindex/index/flat_index.hpp"
#include "vindex/index/hnsw_index.hpp"
#include "vindex/persist/keyspace_snapshot.hpp"

namespace vindex_redis {
namespace {

template <class IndexT>
class Impl final : public AnyIndex {
 public:
  Impl(std::shared_ptr<vindex::MemoryAccount> memory, const IndexSpec& spec, vindex::KeyValueSource& source,
       std::unique_ptr<IndexT> index)
      : memory_(std::move(memory)),
        keyspace_(std::make_unique<vindex::KeyspaceIndex<IndexT>>(spec.definition, source, std::move(index))) {}
  Impl(std::shared_ptr<vindex::MemoryAccount> memory, std::unique_ptr<vindex::KeyspaceIndex<IndexT>> loaded)
      : memory_(std::move(memory)), keyspace_(std::move(loaded)) {}

  void start_backfill() override { keyspace_->start_backfill(); }
  void start_reconcile() override { keyspace_->start_reconcile(); }
  vindex::BackfillState step_for(std::chrono::nanoseconds budget, std::size_t batch_keys) override {
    return keyspace_->step_for(budget, batch_keys);
  }
  vindex::BackfillProgress progress() const override { return keyspace_->progress(); }
  vindex::EntryOutcome on_write(vindex::KeyView key) override { return keyspace_->on_write(key); }
  vindex::EntryOutcome on_delete(vindex::KeyView key) override { return keyspace_->on_delete(key); }
  bool maintain_for(std::chrono::nanoseconds budget) override {
    if constexpr (vindex::MaintainedIndex<IndexT>)
      return keyspace_->maintain_for(budget);
    else
      return false;
  }
  std::optional<vindex::HnswMemory> memory_breakdown() const override {
    if constexpr (vindex::MaintainedIndex<IndexT>) {
      return keyspace_->index().memory_breakdown();
    } else {
      const vindex::FlatMemory m = keyspace_->index().memory_breakdown();
      return vindex::HnswMemory{.vectors = m.vectors, .codes = m.codes, .keys = m.keys, .other = m.other};
    }
  }
  std::optional<vindex::HnswMaintenanceStats> maintenance_stats() const override {
    if constexpr (vindex::MaintainedIndex<IndexT>)
      return keyspace_->index().maintenance_stats();
    else
      return std::nullopt;
  }
  bool maintenance_pending() const override {
    if constexpr (vindex::MaintainedIndex<IndexT>)
      return keyspace_->maintenance_pending();
    else
      return false;
  }
  std::vector<vindex::SearchResult> search(std::span<const float> query, std::size_t k,
                                           const vindex::FilterExpr& filter, vindex::SearchOptions options,
                                           const vindex::KeyPredicate& keep) const override {
    return keyspace_->search(query, k, filter, options, keep);
  }
  std::size_t size() const override { return keyspace_->size(); }
  std::vector<std::string> keys_where(const std::function<bool(vindex::KeyView)>& pick) const override {
    std::vector<std::string> out;
    keyspace_->index().for_each([&](vindex::KeyView key, auto&&...) {
      if (pick(key)) out.emplace_back(key);
    });
    if (keyspace_->failures().total() > 0)  // rare: export_state copies the attribute rows too
      for (const auto& [key, why] : keyspace_->export_state().failing)
        if (pick(key)) out.push_back(key);
    return out;
  }
  std::size_t memory_bytes() const override {
    return keyspace_->index().memory_bytes() + keyspace_->attribute_memory_bytes();
  }
  const vindex::IndexDefinition& definition() const override { return keyspace_->definition(); }
  void save(vindex::Serializer& out) const override { vindex::save(*keyspace_, out); }

 private:
  std::shared_ptr<vindex::MemoryAccount> memory_;  // declared first: outlives keyspace_, which frees into it
  std::unique_ptr<vindex::KeyspaceIndex<IndexT>> keyspace_;
};

template <class MetricT>
std::unique_ptr<AnyIndex> make_for_metric(const IndexSpec& spec, vindex::KeyValueSource& source,
                                          std::shared_ptr<vindex::MemoryAccount> memory) {
  vindex::MemoryAccount* resource = memory.get();
  auto make = [&]<class T>() -> std::unique_ptr<AnyIndex> {
    auto with = [&]<class I>(const auto& params) -> std::unique_ptr<AnyIndex> {
      return std::make_unique<Impl<I>>(std::move(memory), spec, source,
                                       std::make_unique<I>(spec.schema, params, vindex::Limits{}, resource));
    };
    const bool sq8 = spec.compression == Compression::kSq8;
    if constexpr (std::is_same_v<T, float>) {
      if (sq8 && spec.algorithm == Algorithm::kFlat)
        return with.template operator()<vindex::FlatIndex<float, MetricT, vindex::Sq8>>(spec.flat);
      if (sq8) return with.template operator()<vindex::HnswIndex<float, MetricT, vindex::Sq8>>(spec.hnsw);
    }
    if (spec.algorithm == Algorithm::kFlat) return with.template operator()<vindex::FlatIndex<T, MetricT>>(spec.flat);
    return with.template operator()<vindex::HnswIndex<T, MetricT>>(spec.hnsw);
  };
  // FLOAT16 / BFLOAT16 / INT8 / UINT8 vectors stay in their width, as the hash holds them; under
  // COMPRESSION SQ8 (16-bit TYPEs, re-ranking from the hash) the index takes them widened to floats,
  // which it keeps only until its quantizer's training is final.
  if (spec.compression == Compression::kSq8) return make.template operator()<float>();
  switch (spec.schema.type) {
    case vindex::ElementType::kFloat16: return make.template operator()<vindex::Float16>();
    case vindex::ElementType::kBFloat16: return make.template operator()<vindex::BFloat16>();
    case vindex::ElementType::kInt8: return make.template operator()<vindex::Int8>();
    case vindex::ElementType::kUint8: return make.template operator()<vindex::UInt8>();
    case vindex::ElementType::kFloat32: break;
  }
  return make.template operator()<float>();
}

template <class IndexT>
std::unique_ptr<AnyIndex> load_as(const IndexSpec& spec, vindex::KeyValueSource& source, vindex::Deserializer& in,
                                  std::shared_ptr<vindex::MemoryAccount> memory) {
  vindex::LoadOptions options;
  options.expect_schema = spec.schema;
  options.memory = memory.get();
  auto loaded = vindex::load_keyspace<IndexT>(in, source, options);
  if (!(loaded->definition() == spec.definition))
    throw vindex::Error(vindex::ErrorCode::kSchemaMismatch,
                        "the snapshot's index definition (prefixes, fields) differs from FT.CREATE's");
  if constexpr (vindex::HostRerankingIndex<IndexT>) {
    if (loaded->index().reranks_from_host() != (spec.flat.exact_vectors == vindex::ExactVectors::kHost))
      throw vindex::Error(vindex::ErrorCode::kSchemaMismatch,
                          "the snapshot's EXACT_VECTORS (INDEX or HASH) differs from FT.CREATE's");
  }
  if constexpr (vindex::GraphIndex<IndexT>) {
    const auto& p = loaded->index().params();
    if (p.m != spec.hnsw.m || p.ef_construction != spec.hnsw.ef_construction || p.ef_runtime != spec.hnsw.ef_runtime)
      throw vindex::Error(vindex::ErrorCode::kSchemaMismatch,
                          "the snapshot's HNSW parameters (M, EF_CONSTRUCTION, EF_RUNTIME) differ from FT.CREATE's");
  }
  return std::make_unique<Impl<IndexT>>(std::move(memory), std::move(loaded));
}

template <class MetricT>
std::unique_ptr<AnyIndex> load_for_metric(const IndexSpec& spec, vindex::KeyValueSource& source,
                                          vindex::Deserializer& in, std::shared_ptr<vindex::MemoryAccount> memory) {
  auto load = [&]<class T>() -> std::unique_ptr<AnyIndex> {
    const bool sq8 = spec.compression == Compression::kSq8;
    if constexpr (std::is_same_v<T, float>) {
      if (sq8 && spec.algorithm == Algorithm::kFlat)
        return load_as<vindex::FlatIndex<float, MetricT, vindex::Sq8>>(spec, source, in, std::move(memory));
      if (sq8) return load_as<vindex::HnswIndex<float, MetricT, vindex::Sq8>>(spec, source, in, std::move(memory));
    }
    if (spec.algorithm == Algorithm::kFlat)
      return load_as<vindex::FlatIndex<T, MetricT>>(spec, source, in, std::move(memory));
    return load_as<vindex::HnswIndex<T, MetricT>>(spec, source, in, std::move(memory));
  };
  // A FLOAT16 / BFLOAT16 snapshot written when indexes widened them to floats loads too: its values
  // are those of the TYPE (COSINE: normalised × magnitude rounds back to them exactly). SQ8 indexes
  // are float indexes whatever the TYPE.
  if (spec.compression == Compression::kSq8) return load.template operator()<float>();
  switch (spec.schema.type) {
    case vindex::ElementType::kFloat16: return load.template operator()<vindex::Float16>();
    case vindex::ElementType::kBFloat16: return load.template operator()<vindex::BFloat16>();
    case vindex::ElementType::kInt8: return load.template operator()<vindex::Int8>();
    case vindex::ElementType::kUint8: return load.template operator()<vindex::UInt8>();
    case vindex::ElementType::kFloat32: break;
  }
  return load.template operator()<float>();
}

}  // namespace

std::unique_ptr<AnyIndex> load_index(const IndexSpec& spec, vindex::KeyValueSource& source,
                                     vindex::Deserializer& in, std::shared_ptr<vindex::MemoryAccount> memory) {
  switch (spec.schema.metric) {
    case vindex::Metric::kL2: return load_for_metric<vindex::metric::L2>(spec, source, in, std::move(memory));
    case vindex::Metric::kIP:
      return load_for_metric<vindex::metric::InnerProduct>(spec, source, in, std::move(memory));
    case vindex::Metric::kCosine: return load_for_metric<vindex::metric::Cosine>(spec, source, in, std::move(memory));
  }
  throw vindex::Error(vindex::ErrorCode::kInvalidArgument, "unknown metric");
}

std::unique_ptr<AnyIndex> make_index(const IndexSpec& spec, vindex::KeyValueSource& source,
                                     std::shared_ptr<vindex::MemoryAccount> memory) {
  switch (spec.schema.metric) {
    case vindex::Metric::kL2: return make_for_metric<vindex::metric::L2>(spec, source, std::move(memory));
    case vindex::Metric::kIP: return make_for_metric<vindex::metric::InnerProduct>(spec, source, std::move(memory));
    case vindex::Metric::kCosine: return make_for_metric<vindex::metric::Cosine>(spec, source, std::move(memory));
  }
  throw vindex::Error(vindex::ErrorCode::kInvalidArgument, "unknown metric");
}

}  // namespace vindex_redis
