// vindex_datasets.hpp — reading TEXMEX .fvecs/.ivecs files and locating the shared datasets.
//
// Used by the examples, tests and benchmarks; not part of the library's public headers.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vindex_support {

/// A dense row-major matrix read from a vecs file.
template <class T>
struct Matrix {
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::vector<T> data;
  const T* row(std::size_t i) const { return data.data() + i * dim; }
};

/// Reads a .fvecs (T = float) or .ivecs (T = int32_t) file: records of int32 d then d values.
/// `max_rows` (0 = all) stops early. Throws std::runtime_error on a malformed file.
template <class T>
Matrix<T> read_vecs(const std::filesystem::path& path, std::size_t max_rows = 0) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  Matrix<T> m;
  std::int32_t d = 0;
  while ((max_rows == 0 || m.rows < max_rows) && in.read(reinterpret_cast<char*>(&d), 4)) {
    if (d <= 0 || d > (1 << 20)) throw std::runtime_error("bad record dimension in " + path.string());
    if (m.rows == 0) m.dim = static_cast<std::size_t>(d);
    if (static_cast<std::size_t>(d) != m.dim) throw std::runtime_error("ragged records in " + path.string());
    const std::size_t at = m.data.size();
    m.data.resize(at + m.dim);
    if (!in.read(reinterpret_cast<char*>(m.data.data() + at), static_cast<std::streamsize>(m.dim * sizeof(T))))
      throw std::runtime_error("truncated record in " + path.string());
    ++m.rows;
  }
  return m;
}

/// The datasets folder: $VINDEX_DATASETS, else ../shared/datasets relative to the working directory's
/// repository root guess. Returns nullopt when the folder does not exist.
inline std::optional<std::filesystem::path> datasets_dir() {
  if (const char* env = std::getenv("VINDEX_DATASETS"); env && *env) {
    std::filesystem::path p(env);
    if (std::filesystem::is_directory(p)) return p;
    return std::nullopt;
  }
  for (const char* guess : {"../shared/datasets", "../../shared/datasets", "../../../shared/datasets"})
    if (std::filesystem::is_directory(guess)) return std::filesystem::path(guess);
  return std::nullopt;
}

/// Path of siftsmall's folder when all three files are present.
inline std::optional<std::filesystem::path> siftsmall_dir() {
  auto dir = datasets_dir();
  if (!dir) return std::nullopt;
  auto sift = *dir / "siftsmall";
  for (const char* f : {"siftsmall_base.fvecs", "siftsmall_query.fvecs", "siftsmall_groundtruth.ivecs"})
    if (!std::filesystem::exists(sift / f)) return std::nullopt;
  return sift;
}

}  // namespace vindex_support
