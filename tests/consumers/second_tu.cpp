// The second translation unit of the consumer program: includes everything again, so the program
// links only if every definition in the headers is inline or a template, and instantiates the same
// FlatIndex as app.cpp, whose copies the linker must fold.
#include <vindex/vindex.hpp>

#include <vector>

bool second_tu_ok() {
  vindex::FlatIndex<float, vindex::metric::L2> index(vindex::VectorSchema{3});
  index.upsert_blob("a", vindex::to_float32_blob(std::vector<float>{1, 0, 0}));
  index.upsert_blob("b", vindex::to_float32_blob(std::vector<float>{0, 1, 0}));
  const auto hits = index.search(std::vector<float>{0.1f, 1, 0}, 1);
  return index.size() == 2 && hits.size() == 1 && hits[0].key == "b";
}
