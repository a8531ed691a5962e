// vindex/persist/crc32c.hpp — CRC-32C (Castagnoli), the checksum of every snapshot section.
//
// A software slicing-by-8 implementation (tables built at compile time) that any target can run,
// and the SSE4.2 `crc32` instruction when the build targets it; both give identical results. The
// check value of "123456789" is 0xE3069283. Pure functions; thread-safe.
// Next: persist/little_endian.hpp.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

namespace vindex {

namespace detail {

// Reflected form of the Castagnoli polynomial 0x1EDC6F41.
inline constexpr std::uint32_t kCrc32cPolynomial = 0x82F63B78u;

// tables[0] is the classic byte-at-a-time table; tables[s] advances a byte through s more zero bytes,
// which lets the slicing loop fold eight input bytes per step.
constexpr std::array<std::array<std::uint32_t, 256>, 8> make_crc32c_tables() {
  std::array<std::array<std::uint32_t, 256>, 8> tables{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ (kCrc32cPolynomial & (0u - (c & 1u)));
    tables[0][i] = c;
  }
  for (std::size_t s = 1; s < 8; ++s)
    for (std::size_t i = 0; i < 256; ++i)
      tables[s][i] = (tables[s - 1][i] >> 8) ^ tables[0][tables[s - 1][i] & 0xffu];
  return tables;
}

inline constexpr auto kCrc32cTables = make_crc32c_tables();

inline std::uint64_t load_u64_le(const unsigned char* p) noexcept {
  std::uint64_t word;
  std::memcpy(&word, p, 8);
  if constexpr (std::endian::native == std::endian::big) {
    std::uint64_t swapped = 0;
    for (int i = 0; i < 8; ++i) swapped = (swapped << 8) | ((word >> (8 * i)) & 0xffu);
    word = swapped;
  }
  return word;
}

}  // namespace detail

/// Continues a CRC-32C over `data` in software (slicing-by-8). Start with `crc = 0`; feeding the
/// result of one call into the next equals one call over the concatenation.
inline std::uint32_t crc32c_software(std::uint32_t crc, std::span<const std::byte> data) noexcept {
  const auto& t = detail::kCrc32cTables;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  crc = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    const std::uint64_t word = detail::load_u64_le(p);
    const auto lo = static_cast<std::uint32_t>(word) ^ crc;
    const auto hi = static_cast<std::uint32_t>(word >> 32);
    crc = t[7][lo & 0xffu] ^ t[6][(lo >> 8) & 0xffu] ^ t[5][(lo >> 16) & 0xffu] ^ t[4][lo >> 24] ^
          t[3][hi & 0xffu] ^ t[2][(hi >> 8) & 0xffu] ^ t[1][(hi >> 16) & 0xffu] ^ t[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) crc = t[0][(crc ^ *p) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

/// Continues a CRC-32C over `data` with the fastest implementation the build targets (the SSE4.2
/// instruction when available, else `crc32c_software`).
inline std::uint32_t crc32c(std::uint32_t crc, std::span<const std::byte> data) noexcept {
#if defined(__SSE4_2__) && defined(__x86_64__)
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  std::uint64_t c = ~crc;
  for (; n >= 8; p += 8, n -= 8) c = _mm_crc32_u64(c, detail::load_u64_le(p));
  auto c32 = static_cast<std::uint32_t>(c);
  for (; n > 0; ++p, --n) c32 = _mm_crc32_u8(c32, *p);
  return ~c32;
#else
  return crc32c_software(crc, data);
#endif
}

/// CRC-32C of a whole byte string.
inline std::uint32_t crc32c(std::string_view text) noexcept {
  return crc32c(0, std::as_bytes(std::span<const char>(text.data(), text.size())));
}

}  // namespace vindex
