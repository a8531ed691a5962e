// vindex/storage/huge_pages.hpp — asking the kernel to back large blocks of node records with
// transparent huge pages.
//
// An HNSW walk reads records at random: on 4 KiB pages nearly every record read misses the TLB once
// the index is larger than the TLB reaches (a few MiB), and the page walk costs about as much as a
// distance. In blocks of at least kHugePageBytes that vindex allocates from its own memory (no
// memory resource given), the whole huge pages inside are advised (MADV_HUGEPAGE) before they are
// first touched, so the kernel can map them 2 MiB at a time when its THP setting is `always` or
// `madvise`. Blocks keep their allocator's alignment: aligning them to 2 MiB would make malloc map
// up to 2 MiB more per block (untouched, but counted as in use), so a block of B bytes holds
// floor((B − its offset into a huge page) / 2 MiB) of them. A host that passes its own memory
// resource decides its pages itself: vindex advises nothing then.
// Thread-safety: stateless. Next: storage/block_array.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace vindex {

/// Size of a transparent huge page on x86-64 (and the usual aarch64 kernels).
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

/// Advises the kernel to back the whole huge pages inside [p, p + bytes) with transparent huge
/// pages (Linux madvise MADV_HUGEPAGE); call it before the memory is first touched. Returns the
/// bytes advised: 0 when no whole huge page lies inside, when the kernel refuses (the advice is only
/// a hint) and on other systems.
inline std::size_t advise_huge_pages(void* p, std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t begin = (start + kHugePageBytes - 1) & ~std::uintptr_t{kHugePageBytes - 1};
  const std::uintptr_t end = (start + bytes) & ~std::uintptr_t{kHugePageBytes - 1};
  if (bytes == 0 || end <= begin) return 0;
  if (::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE) != 0) return 0;
  return end - begin;
#else
  (void)p;
  (void)bytes;
  return 0;
#endif
}

}  // namespace vindex
