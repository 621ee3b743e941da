// Decodes one HTJ2K codestream N times with OpenJPH (the reference implementation) into a
// 16-bit little-endian buffer, as the translator's decoder does, and prints the mean time
// per frame in microseconds. Built and run by scripts/bench-decode.sh.
#include <openjph/ojph_arch.h>
#include <openjph/ojph_defs.h>
#include <openjph/ojph_codestream.h>
#include <openjph/ojph_file.h>
#include <openjph/ojph_mem.h>
#include <openjph/ojph_params.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: ojph_decode FILE.j2c ITERATIONS\n");
    return 2;
  }
  std::ifstream f(argv[1], std::ios::binary);
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), {});
  int n = std::atoi(argv[2]);
  std::vector<uint16_t> out;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; i++) {
    ojph::mem_infile in;
    in.open(data.data(), data.size());
    ojph::codestream cs;
    cs.read_headers(&in);
    ojph::param_siz siz = cs.access_siz();
    uint32_t w = siz.get_image_extent().x - siz.get_image_offset().x;
    uint32_t h = siz.get_image_extent().y - siz.get_image_offset().y;
    out.resize(size_t(w) * h);
    cs.create();
    for (uint32_t y = 0; y < h; y++) {
      uint32_t comp;
      ojph::line_buf *line = cs.pull(comp);
      for (uint32_t x = 0; x < w; x++) out[size_t(y) * w + x] = uint16_t(line->i32[x]);
    }
    cs.close();
  }
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / n;
  std::printf("%.1f\n", us);
  return out.empty();
}
