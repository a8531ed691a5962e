// examples/redis_module/index_spec.cpp — FT.CREATE argument parsing.
#include "index_spec.hpp"

#include <charconv>

#include "vindex/core/error.hpp"
#include "vindex/core/schema.hpp"

namespace vindex_redis {
namespace {

using vindex::Error;
using vindex::ErrorCode;

using vindex::iequals;

[[noreturn]] void fail(const std::string& message) { throw Error(ErrorCode::kInvalidArgument, message); }

// Reads the arguments left to right, with errors that say which argument was wrong.
class Args {
 public:
  explicit Args(const std::vector<std::string>& args) : args_(args) {}
  bool done() const { return pos_ >= args_.size(); }
  const std::string& peek() const { return args_[pos_]; }
  const std::string& next(std::string_view what) {
    if (done()) fail("missing " + std::string(what) + " at the end of the arguments");
    return args_[pos_++];
  }
  bool accept(std::string_view word) {
    if (!done() && iequals(args_[pos_], word)) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::size_t number(std::string_view what, std::size_t lo, std::size_t hi) {
    const std::string& text = next(what);
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi)
      fail(std::string(what) + " must be an integer in " + std::to_string(lo) + ".." +
           std::to_string(hi) + ", got '" + text + "'");
    return value;
  }

 private:
  const std::vector<std::string>& args_;
  std::size_t pos_ = 0;
};

void parse_vector(Args& args, IndexSpec& spec, const vindex::Limits& limits) {
  const std::string& algorithm = args.next("vector algorithm");
  if (iequals(algorithm, "FLAT")) {
    spec.algorithm = Algorithm::kFlat;
  } else if (iequals(algorithm, "HNSW")) {
    spec.algorithm = Algorithm::kHnsw;
  } else {
    fail("unknown vector algorithm '" + algorithm + "' (FLAT or HNSW)");
  }
  const std::size_t count = args.number("vector attribute count", 0, 64);
  if (count % 2 != 0) fail("vector attribute count must be even, got " + std::to_string(count));
  bool have_type = false, have_dim = false, have_metric = false;
  for (std::size_t i = 0; i < count / 2; ++i) {
    const std::string& name = args.next("vector attribute");
    if (iequals(name, "TYPE")) {
      const std::string& value = args.next("TYPE value");
      const auto type = vindex::parse_element_type(value);
      if (!type) fail("unknown TYPE '" + value + "' (FLOAT32, FLOAT16, BFLOAT16, INT8 or UINT8)");
      spec.schema.type = *type;
      have_type = true;
    } else if (iequals(name, "DIM")) {
      spec.schema.dim = static_cast<std::uint32_t>(args.number("DIM", 1, limits.max_dim));
      have_dim = true;
    } else if (iequals(name, "DISTANCE_METRIC")) {
      const std::string& value = args.next("DISTANCE_METRIC value");
      const auto metric = vindex::parse_metric(value);
      if (!metric) fail("unknown DISTANCE_METRIC '" + value + "' (L2, IP or COSINE)");
      spec.schema.metric = *metric;
      have_metric = true;
    } else if (iequals(name, "INITIAL_CAP")) {
      const std::size_t cap = args.number("INITIAL_CAP", 0, std::size_t{1} << 32);
      spec.flat.initial_cap = cap;
      spec.hnsw.initial_cap = cap;
    } else if (iequals(name, "BLOCK_SIZE")) {
      const std::size_t block = args.number("BLOCK_SIZE", 1, limits.max_block_size);
      spec.flat.block_size = block;
      spec.hnsw.block_size = block;
    } else if (iequals(name, "M") && spec.algorithm == Algorithm::kHnsw) {
      spec.hnsw.m = args.number("M", limits.min_m, limits.max_m);
    } else if (iequals(name, "EF_CONSTRUCTION") && spec.algorithm == Algorithm::kHnsw) {
      spec.hnsw.ef_construction = args.number("EF_CONSTRUCTION", 1, limits.max_ef);
    } else if (iequals(name, "EF_RUNTIME") && spec.algorithm == Algorithm::kHnsw) {
      spec.hnsw.ef_runtime = args.number("EF_RUNTIME", 1, limits.max_ef);
    } else if (iequals(name, "COMPRESSION")) {
      const std::string& value = args.next("COMPRESSION value");
      if (iequals(value, "SQ8")) spec.compression = Compression::kSq8;
      else if (iequals(value, "NONE")) spec.compression = Compression::kNone;
      else fail("unknown COMPRESSION '" + value + "' (SQ8 or NONE)");
    } else if (iequals(name, "EXACT_VECTORS")) {
      const std::string& value = args.next("EXACT_VECTORS value");
      if (iequals(value, "HASH")) spec.flat.exact_vectors = vindex::ExactVectors::kHost;
      else if (iequals(value, "INDEX")) spec.flat.exact_vectors = vindex::ExactVectors::kIndex;
      else fail("unknown EXACT_VECTORS '" + value + "' (INDEX or HASH)");
      spec.hnsw.exact_vectors = spec.flat.exact_vectors;
    } else {
      fail("unknown " + std::string(to_string(spec.algorithm)) + " attribute '" + name + "'");
    }
  }
  if (!have_type || !have_dim || !have_metric)
    fail("vector field needs TYPE, DIM and DISTANCE_METRIC");
  const bool sixteen_bits =
      spec.schema.type == vindex::ElementType::kFloat16 || spec.schema.type == vindex::ElementType::kBFloat16;
  if (spec.compression == Compression::kSq8 && spec.schema.type != vindex::ElementType::kFloat32 && !sixteen_bits)
    fail("COMPRESSION SQ8 needs TYPE FLOAT32, FLOAT16 or BFLOAT16 (" + std::string(vindex::to_string(spec.schema.type)) +
         " vectors are 8-bit already)");
  if (spec.compression == Compression::kSq8 && sixteen_bits && spec.flat.exact_vectors != vindex::ExactVectors::kHost)
    fail("COMPRESSION SQ8 on TYPE " + std::string(vindex::to_string(spec.schema.type)) +
         " needs EXACT_VECTORS HASH (a float copy beside the codes would take more than the 16-bit vectors)");
  if (spec.flat.exact_vectors == vindex::ExactVectors::kHost && spec.compression != Compression::kSq8)
    fail("EXACT_VECTORS HASH needs COMPRESSION SQ8 (without codes the index's vectors are the exact ones)");
}

}  // namespace

std::string_view to_string(Algorithm algorithm) noexcept {
  return algorithm == Algorithm::kFlat ? "FLAT" : "HNSW";
}

IndexSpec parse_create(std::string_view name, const std::vector<std::string>& arguments,
                       const vindex::Limits& limits) {
  IndexSpec spec;
  spec.name = std::string(name);
  spec.arguments = arguments;
  if (spec.name.empty()) fail("index name is empty");
  Args args(arguments);
  if (args.accept("ON")) {
    const std::string& type = args.next("ON type");
    if (!iequals(type, "HASH")) fail("only ON HASH is supported, got ON '" + type + "'");
  }
  if (args.accept("PREFIX")) {
    const std::size_t count = args.number("PREFIX count", 0, 1024);
    for (std::size_t i = 0; i < count; ++i) spec.definition.prefixes.push_back(args.next("prefix"));
  }
  // Index options RediSearch clients send that do not concern vector search are accepted and
  // ignored; FILTER (an expression over documents) is not supported.
  while (!args.done() && !(args.peek().size() == 6 && iequals(args.peek(), "SCHEMA"))) {
    if (args.accept("LANGUAGE") || args.accept("LANGUAGE_FIELD") || args.accept("SCORE") ||
        args.accept("SCORE_FIELD") || args.accept("PAYLOAD_FIELD")) {
      args.next("option value");
    } else if (args.accept("MAXTEXTFIELDS") || args.accept("NOOFFSETS") || args.accept("NOHL") ||
               args.accept("NOFIELDS") || args.accept("NOFREQS")) {
    } else if (args.accept("SKIPINITIALSCAN")) {
      spec.skip_initial_scan = true;
    } else if (args.accept("TEMPORARY")) {
      fail("TEMPORARY indexes are not supported");
    } else if (args.accept("STOPWORDS")) {
      const std::size_t count = args.number("STOPWORDS count", 0, 1024);
      for (std::size_t i = 0; i < count; ++i) args.next("stopword");
    } else if (args.accept("FILTER")) {
      fail("FILTER is not supported");
    } else {
      fail("unexpected argument '" + args.peek() + "' (expected SCHEMA)");
    }
  }
  if (!args.accept("SCHEMA")) {
    if (args.done()) fail("missing SCHEMA");
    fail("unexpected argument '" + args.peek() + "' (expected SCHEMA)");
  }
  bool have_vector = false;
  while (!args.done()) {
    const std::string& field = args.next("field name");
    const std::string& type = args.next("field type");
    if (iequals(type, "VECTOR")) {
      if (have_vector) fail("only one VECTOR field per index is supported, '" + field + "' is a second");
      spec.definition.vector_field = field;
      parse_vector(args, spec, limits);
      have_vector = true;
    } else if (iequals(type, "TAG")) {
      vindex::AttributeField attribute{field, vindex::AttributeType::kTag, ',', false};
      while (true) {
        if (args.accept("SEPARATOR")) {
          const std::string& separator = args.next("SEPARATOR value");
          if (separator.size() != 1) fail("SEPARATOR must be one character, got '" + separator + "'");
          attribute.separator = separator[0];
        } else if (args.accept("CASESENSITIVE")) {
          attribute.case_sensitive = true;
        } else if (args.accept("SORTABLE")) {
        } else {
          break;
        }
      }
      spec.definition.attributes.push_back(attribute);
    } else if (iequals(type, "NUMERIC")) {
      args.accept("SORTABLE");
      spec.definition.attributes.push_back({field, vindex::AttributeType::kNumeric, ',', false});
    } else {
      fail("field '" + field + "' has unsupported type '" + type + "' (VECTOR, TAG or NUMERIC)");
    }
  }
  if (!have_vector) fail("SCHEMA has no VECTOR field");
  spec.schema.validate(limits);
  spec.definition.validate();
  return spec;
}

}  // namespace vindex_redis
