// A consumer of vindex: builds an index, searches it and checks the answer. Every consumer build in
// tests/consumers/ compiles this file and second_tu.cpp (the same header in a second translation
// unit, so a non-inline definition in any header fails the link).
#include <vindex/vindex.hpp>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

bool second_tu_ok();  // second_tu.cpp

int main() {
  // Eight points on a line; the query sits between p5 (nearest) and p6.
  vindex::VectorSchema schema{2, vindex::ElementType::kFloat32, vindex::Metric::kL2};
  vindex::FlatIndex<float, vindex::metric::L2> flat(schema);
  vindex::HnswIndex<float, vindex::metric::L2> hnsw(schema, {.m = 4, .ef_construction = 16});
  for (int i = 0; i < 8; ++i) {
    const std::vector<float> v{static_cast<float>(i), 0.0f};
    flat.upsert_blob("p" + std::to_string(i), vindex::to_float32_blob(v));
    hnsw.upsert_blob("p" + std::to_string(i), vindex::to_float32_blob(v));
  }
  const std::vector<float> query{5.1f, 0.0f};
  const auto exact = flat.search(query, 2);
  const auto approx = hnsw.search(query, 2, {.ef = 16});
  bool ok = exact.size() == 2 && exact[0].key == "p5" && exact[1].key == "p6" &&
            approx.size() == 2 && approx[0].key == "p5" && approx[1].key == "p6";
  ok = second_tu_ok() && ok;
#ifdef EXPECTED_VINDEX_VERSION  // the version the build system found (pkg-config, CMake, Meson)
  ok = ok && vindex::version_string == std::string_view(EXPECTED_VINDEX_VERSION);
#endif
  std::printf("vindex %s (%s): %s\n", VINDEX_VERSION_STRING, std::string(vindex::simd_arch_name()).c_str(),
              ok ? "ok" : "WRONG ANSWER");
  return ok ? 0 : 1;
}
