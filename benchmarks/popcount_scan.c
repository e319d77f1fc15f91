/* The tight loop of a flat Hamming scan, as the limit a k-NN scan of binary codes can reach on one core:
 * XOR each code with the query, popcount, compare with a bound (the test a top-k heap makes), count.
 * Built by benchmarks/bench_search.py with the system C compiler (-O3 -march=native) and called through ctypes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* one code per 64-bit word: vectorises to one XOR, one POPCNT and one compare per word (AVX-512 VPOPCNTQ: 8 words) */
long scan_words(const uint64_t *words, size_t n, uint64_t query, int bound) {
    long below = 0;
    for (size_t i = 0; i < n; i++) below += __builtin_popcountll(words[i] ^ query) < bound;
    return below;
}

/* codes packed at `width` <= 8 bytes each (the layout faiss.IndexBinaryFlat stores): one unaligned 8-byte load per
 * code, masked to its width; the last codes, whose 8 bytes would run past the array, are copied alone */
long scan_packed(const uint8_t *codes, size_t n, size_t width, uint64_t query, int bound) {
    const uint64_t mask = width == 8 ? ~0ULL : (1ULL << (8 * width)) - 1;
    const size_t loadable = n * width >= 8 ? (n * width - 8) / width + 1 : 0;
    long below = 0;
    size_t i = 0;
    for (; i < loadable; i++) {
        uint64_t code;
        memcpy(&code, codes + i * width, 8);
        below += __builtin_popcountll((code ^ query) & mask) < bound;
    }
    for (; i < n; i++) {
        uint64_t code = 0;
        memcpy(&code, codes + i * width, width);
        below += __builtin_popcountll((code ^ query) & mask) < bound;
    }
    return below;
}
