// A mirror of stb_image 2.27's JPEG decoder (stbi__decode_jpeg_image and what it calls) that
// keeps everything which decides how many bits stb reads (marker walk, Huffman tables, restart
// intervals, its 32-bit bit buffer, and for progressive files the coefficients that refinement
// scans test for zero) and drops everything else (dequantisation, IDCT, colour). Where stb
// returns an error, so does this walk (stb then refuses the file with its own message); where
// stb's bit reader would take more bits than it holds, this throws instead. Names and structure
// follow stb_image.h so that the two can be read side by side.
#include "minidl/data/jpeg_check.h"

#include <algorithm>
#include <array>
#include <vector>

#include "minidl/data/data_error.h"

namespace minidl::data {

namespace {

constexpr int kFastBits = 9;
constexpr int kNoMarker = 0xff;  // STBI__MARKER_none

// stbi__jpeg_dezigzag: position in the 8x8 block of the k-th coefficient, with stb's padding
// that lets a corrupt run index past 63.
constexpr std::array<std::uint8_t, 64 + 15> kDezigzag = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63, 63, 63,
    63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63};

constexpr std::array<std::uint32_t, 17> kBmask = {0,   1,    3,    7,    15,   31,    63,    127,  255,
                                                  511, 1023, 2047, 4095, 8191, 16383, 32767, 65535};

// stbi__huffman. A table no DHT defined is all zeros, as stb's (zeroed) allocation leaves it.
struct Huffman {
  std::array<std::uint8_t, 1 << kFastBits> fast{};
  std::array<std::uint16_t, 256> code{};
  std::array<std::uint8_t, 256> values{};
  std::array<std::uint8_t, 257> size{};
  std::array<std::uint32_t, 18> maxcode{};
  std::array<int, 17> delta{};
};

struct Component {
  int id = 0, h = 0, v = 0, hd = 0, ha = 0;
  int x = 0, y = 0;                // effective pixels
  int coeff_w = 0;                 // blocks per row of the coefficient store (progressive)
  std::vector<std::int16_t> coeff;  // progressive only: 64 per block
};

// Thrown inside the walk when stb would refuse the file (the walk stops, stb says why), or when
// the image is over the caller's size limits.
struct StbRefuses {};

class Walk {
 public:
  Walk(const std::uint8_t* b, std::size_t size, const std::string& name, std::int64_t max_side, std::int64_t max_pixels)
      : b_(b), size_(size), name_(name), max_side_(max_side), max_pixels_(max_pixels) {}

  void run(std::size_t after_soi) {
    pos_ = after_soi;
    restart_interval_ = 0;
    // stbi__decode_jpeg_header
    int m = get_marker();
    while (!is_sof(m)) {
      process_marker(m);
      m = get_marker();
      while (m == kNoMarker) {
        if (at_eof()) throw StbRefuses{};
        m = get_marker();
      }
    }
    progressive_ = m == 0xc2;
    process_frame_header();
    // stbi__decode_jpeg_image
    m = get_marker();
    while (m != 0xd9) {
      if (m == 0xda) {
        process_scan_header();
        parse_entropy_coded_data();
        ++scan_;
        if (marker_ == kNoMarker) {
          while (!at_eof()) {
            if (get8() == 255) {
              marker_ = get8();
              break;
            }
          }
        }
      } else if (m == 0xdc) {  // DNL
        const int ld = get16be();
        const int nl = get16be();
        if (ld != 4 || nl != img_y_) throw StbRefuses{};
      } else {
        process_marker(m);
      }
      m = get_marker();
    }
  }

 private:
  // ----- the byte stream (stbi__context over memory) -----
  int get8() { return pos_ < size_ ? b_[pos_++] : 0; }
  int get16be() {
    const int hi = get8();
    return (hi << 8) + get8();
  }
  bool at_eof() const { return pos_ >= size_; }
  void skip(long n) {
    if (n < 0) pos_ = size_;
    else pos_ += static_cast<std::size_t>(n);
  }
  static bool is_sof(int m) { return m == 0xc0 || m == 0xc1 || m == 0xc2; }

  int get_marker() {
    if (marker_ != kNoMarker) {
      const int x = marker_;
      marker_ = kNoMarker;
      return x;
    }
    int x = get8();
    if (x != 0xff) return kNoMarker;
    while (x == 0xff) x = get8();
    return x;
  }

  // ----- segments -----
  void build_huffman(Huffman& h, const int* count) {
    int k = 0;
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < count[i]; ++j) h.size[static_cast<std::size_t>(k++)] = static_cast<std::uint8_t>(i + 1);
    h.size[static_cast<std::size_t>(k)] = 0;
    unsigned code = 0;
    k = 0;
    int j = 1;
    for (; j <= 16; ++j) {
      h.delta[static_cast<std::size_t>(j)] = k - static_cast<int>(code);
      if (h.size[static_cast<std::size_t>(k)] == j) {
        while (h.size[static_cast<std::size_t>(k)] == j) h.code[static_cast<std::size_t>(k++)] = static_cast<std::uint16_t>(code++);
        if (code - 1 >= (1u << j)) throw StbRefuses{};  // "bad code lengths"
      }
      h.maxcode[static_cast<std::size_t>(j)] = code << (16 - j);
      code <<= 1;
    }
    h.maxcode[static_cast<std::size_t>(j)] = 0xffffffff;
    h.fast.fill(255);
    for (int i = 0; i < k; ++i) {
      const int s = h.size[static_cast<std::size_t>(i)];
      if (s <= kFastBits) {
        const int c = h.code[static_cast<std::size_t>(i)] << (kFastBits - s);
        const int m = 1 << (kFastBits - s);
        for (int t = 0; t < m; ++t) h.fast[static_cast<std::size_t>(c + t)] = static_cast<std::uint8_t>(i);
      }
    }
  }

  static void build_fast_ac(std::array<std::int16_t, 1 << kFastBits>& fast_ac, const Huffman& h) {
    for (int i = 0; i < (1 << kFastBits); ++i) {
      const std::uint8_t fast = h.fast[static_cast<std::size_t>(i)];
      fast_ac[static_cast<std::size_t>(i)] = 0;
      if (fast < 255) {
        const int rs = h.values[fast];
        const int run = (rs >> 4) & 15;
        const int magbits = rs & 15;
        const int len = h.size[fast];
        if (magbits && len + magbits <= kFastBits) {
          int k = ((i << len) & ((1 << kFastBits) - 1)) >> (kFastBits - magbits);
          const int m = 1 << (magbits - 1);
          if (k < m) k += 1 - (1 << magbits);
          if (k >= -128 && k <= 127) fast_ac[static_cast<std::size_t>(i)] = static_cast<std::int16_t>((k * 256) + (run * 16) + (len + magbits));
        }
      }
    }
  }

  void process_marker(int m) {
    switch (m) {
      case kNoMarker:
        throw StbRefuses{};
      case 0xdd:  // DRI
        if (get16be() != 4) throw StbRefuses{};
        restart_interval_ = get16be();
        return;
      case 0xdb: {  // DQT
        int left = get16be() - 2;
        while (left > 0) {
          const int q = get8();
          const int p = q >> 4, t = q & 15;
          if ((p != 0 && p != 1) || t > 3) throw StbRefuses{};
          for (int i = 0; i < 64; ++i) p ? get16be() : get8();
          left -= p ? 129 : 65;
        }
        if (left != 0) throw StbRefuses{};
        return;
      }
      case 0xc4: {  // DHT
        int left = get16be() - 2;
        while (left > 0) {
          const int q = get8();
          const int tc = q >> 4, th = q & 15;
          if (tc > 1 || th > 3) throw StbRefuses{};
          int sizes[16], n = 0;
          for (int& s : sizes) n += (s = get8());
          // The overrun of finding 2: stb 2.27 trusts the 16 counts.
          if (n > 256) throw_data_error(name_, ": corrupt JPEG (a Huffman table with ", n, " codes, at most 256 are possible)");
          left -= 17;
          Huffman& h = tc == 0 ? dc_[static_cast<std::size_t>(th)] : ac_[static_cast<std::size_t>(th)];
          build_huffman(h, sizes);
          for (int i = 0; i < n; ++i) h.values[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(get8());
          if (tc != 0) build_fast_ac(fast_ac_[static_cast<std::size_t>(th)], h);
          left -= n;
        }
        if (left != 0) throw StbRefuses{};
        return;
      }
      default:
        break;
    }
    if ((m >= 0xe0 && m <= 0xef) || m == 0xfe) {  // APPn, COM
      const int len = get16be();
      if (len < 2) throw StbRefuses{};
      skip(len - 2);
      return;
    }
    throw StbRefuses{};  // "unknown marker"
  }

  void process_frame_header() {
    const int lf = get16be();
    if (lf < 11) throw StbRefuses{};
    if (get8() != 8) throw StbRefuses{};
    img_y_ = get16be();
    img_x_ = get16be();
    if (img_y_ == 0 || img_x_ == 0 || img_y_ > (1 << 24) || img_x_ > (1 << 24)) throw StbRefuses{};
    if (img_x_ > max_side_ || img_y_ > max_side_ || std::int64_t{img_x_} * img_y_ > max_pixels_) throw StbRefuses{};
    const int c = get8();
    if (c != 3 && c != 1 && c != 4) throw StbRefuses{};
    comp_.assign(static_cast<std::size_t>(c), Component{});
    if (lf != 8 + 3 * c) throw StbRefuses{};
    int h_max = 1, v_max = 1;
    for (auto& k : comp_) {
      k.id = get8();
      const int q = get8();
      k.h = q >> 4;
      k.v = q & 15;
      if (!k.h || k.h > 4 || !k.v || k.v > 4 || get8() > 3) throw StbRefuses{};
      h_max = std::max(h_max, k.h);
      v_max = std::max(v_max, k.v);
    }
    // stbi__mad3sizes_valid: the image is at most 16384 pixels a side here (image_io.cpp checks
    // the header first), so this cannot fail; the ratio checks can.
    for (const auto& k : comp_)
      if (h_max % k.h != 0 || v_max % k.v != 0) throw StbRefuses{};
    mcu_x_ = (img_x_ + h_max * 8 - 1) / (h_max * 8);
    mcu_y_ = (img_y_ + v_max * 8 - 1) / (v_max * 8);
    for (auto& k : comp_) {
      k.x = (img_x_ * k.h + h_max - 1) / h_max;
      k.y = (img_y_ * k.v + v_max - 1) / v_max;
      if (progressive_) {
        k.coeff_w = mcu_x_ * k.h;
        k.coeff.assign(static_cast<std::size_t>(k.coeff_w) * static_cast<std::size_t>(mcu_y_ * k.v) * 64, 0);
      }
    }
  }

  void process_scan_header() {
    const int ls = get16be();
    scan_n_ = get8();
    if (scan_n_ < 1 || scan_n_ > 4 || scan_n_ > static_cast<int>(comp_.size()) || ls != 6 + 2 * scan_n_)
      throw StbRefuses{};
    for (int i = 0; i < scan_n_; ++i) {
      const int id = get8(), q = get8();
      std::size_t which = 0;
      while (which < comp_.size() && comp_[which].id != id) ++which;
      if (which == comp_.size()) throw StbRefuses{};
      comp_[which].hd = q >> 4;
      comp_[which].ha = q & 15;
      if (comp_[which].hd > 3 || comp_[which].ha > 3) throw StbRefuses{};
      order_[static_cast<std::size_t>(i)] = static_cast<int>(which);
    }
    spec_start_ = get8();
    spec_end_ = get8();
    const int aa = get8();
    succ_high_ = aa >> 4;
    succ_low_ = aa & 15;
    if (progressive_) {
      if (spec_start_ > 63 || spec_end_ > 63 || spec_start_ > spec_end_ || succ_high_ > 13 || succ_low_ > 13)
        throw StbRefuses{};
    } else {
      if (spec_start_ != 0 || succ_high_ != 0 || succ_low_ != 0) throw StbRefuses{};
      spec_end_ = 63;
    }
  }

  // ----- the bit reader (stbi__grow_buffer_unsafe and friends) -----
  void grow() {
    do {
      const unsigned b = nomore_ ? 0 : static_cast<unsigned>(get8());
      if (b == 0xff) {
        int c = get8();
        while (c == 0xff) c = get8();
        if (c != 0) {
          marker_ = c;
          nomore_ = true;
          return;
        }
      }
      code_buffer_ |= b << (24 - code_bits_);
      code_bits_ += 8;
    } while (code_bits_ <= 24);
  }

  // Where stb 2.27 would take n bits it does not have: its count goes below zero and its next
  // refill shifts by 32 or more (finding 5). stb 2.28 returns an error here; so do we.
  void need(int n) {
    if (code_bits_ < n)
      throw_data_error(name_, ": corrupt JPEG (the image data of scan ", scan_ + 1, " ends before its blocks do: block ",
                       blocks_ + 1, " needs ", n - code_bits_, " more bits)");
  }

  void consume(int n) {
    code_buffer_ <<= n;
    code_bits_ -= n;
  }

  int huff_decode(const Huffman& h) {
    if (code_bits_ < 16) grow();
    int c = static_cast<int>((code_buffer_ >> (32 - kFastBits)) & ((1u << kFastBits) - 1));
    int k = h.fast[static_cast<std::size_t>(c)];
    if (k < 255) {
      const int s = h.size[static_cast<std::size_t>(k)];
      if (s > code_bits_) return -1;
      consume(s);
      return h.values[static_cast<std::size_t>(k)];
    }
    const unsigned temp = code_buffer_ >> 16;
    for (k = kFastBits + 1;; ++k)
      if (temp < h.maxcode[static_cast<std::size_t>(k)]) break;
    if (k == 17) return -1;  // stb also subtracts 16 from its count here, and then fails the file
    if (k > code_bits_) return -1;
    c = static_cast<int>(((code_buffer_ >> (32 - k)) & kBmask[static_cast<std::size_t>(k)]) +
                         static_cast<unsigned>(h.delta[static_cast<std::size_t>(k)]));
    // A table built above keeps c below its code count; anything else is not a file to trust.
    if (c < 0 || c > 255) throw_data_error(name_, ": corrupt JPEG (a Huffman code outside its table)");
    consume(k);
    return h.values[static_cast<std::size_t>(c)];
  }

  int extend_receive(int n) {
    if (code_bits_ < n) grow();
    need(n);
    const int sgn = static_cast<int>(code_buffer_ >> 31);
    unsigned k = (code_buffer_ << n) | (code_buffer_ >> (32 - n));
    code_buffer_ = k & ~kBmask[static_cast<std::size_t>(n)];
    k &= kBmask[static_cast<std::size_t>(n)];
    code_bits_ -= n;
    static const int kBias[16] = {0, -1, -3, -7, -15, -31, -63, -127, -255, -511, -1023, -2047, -4095, -8191, -16383, -32767};
    return static_cast<int>(k) + (kBias[n] & (sgn - 1));
  }

  int get_bits(int n) {
    if (code_bits_ < n) grow();
    need(n);
    unsigned k = (code_buffer_ << n) | (code_buffer_ >> (32 - n));
    code_buffer_ = k & ~kBmask[static_cast<std::size_t>(n)];
    k &= kBmask[static_cast<std::size_t>(n)];
    code_bits_ -= n;
    return static_cast<int>(k);
  }

  bool get_bit() {
    if (code_bits_ < 1) grow();
    need(1);
    const unsigned k = code_buffer_;
    consume(1);
    return (k & 0x80000000u) != 0;
  }

  // ----- blocks (stbi__jpeg_decode_block, _prog_dc, _prog_ac), values only where they matter -----
  void decode_block(const Component& k) {
    if (code_bits_ < 16) grow();
    const int t = huff_decode(dc_[static_cast<std::size_t>(k.hd)]);
    if (t < 0 || t > 15) throw StbRefuses{};
    if (t) extend_receive(t);
    const auto& fac = fast_ac_[static_cast<std::size_t>(k.ha)];
    int i = 1;
    do {
      if (code_bits_ < 16) grow();
      const int c = static_cast<int>((code_buffer_ >> (32 - kFastBits)) & ((1u << kFastBits) - 1));
      const int r = fac[static_cast<std::size_t>(c)];
      if (r) {
        i += (r >> 4) & 15;
        const int s = r & 15;
        need(s);
        consume(s);
        ++i;
      } else {
        const int rs = huff_decode(ac_[static_cast<std::size_t>(k.ha)]);
        if (rs < 0) throw StbRefuses{};
        const int s = rs & 15, run = rs >> 4;
        if (s == 0) {
          if (rs != 0xf0) break;
          i += 16;
        } else {
          i += run;
          ++i;
          extend_receive(s);
        }
      }
    } while (i < 64);
  }

  void decode_block_prog_dc(const Component& k) {
    if (spec_end_ != 0) throw StbRefuses{};
    if (code_bits_ < 16) grow();
    if (succ_high_ == 0) {
      const int t = huff_decode(dc_[static_cast<std::size_t>(k.hd)]);
      if (t < 0 || t > 15) throw StbRefuses{};
      if (t) extend_receive(t);
    } else {
      get_bit();
    }
  }

  void decode_block_prog_ac(Component& comp, std::int16_t* data) {
    if (spec_start_ == 0) throw StbRefuses{};
    const Huffman& hac = ac_[static_cast<std::size_t>(comp.ha)];
    if (succ_high_ == 0) {
      const int shift = succ_low_;
      if (eob_run_) {
        --eob_run_;
        return;
      }
      const auto& fac = fast_ac_[static_cast<std::size_t>(comp.ha)];
      int k = spec_start_;
      do {
        if (code_bits_ < 16) grow();
        const int c = static_cast<int>((code_buffer_ >> (32 - kFastBits)) & ((1u << kFastBits) - 1));
        const int r = fac[static_cast<std::size_t>(c)];
        if (r) {
          k += (r >> 4) & 15;
          const int s = r & 15;
          need(s);
          consume(s);
          data[kDezigzag[static_cast<std::size_t>(k++)]] = static_cast<std::int16_t>((r >> 8) * (1 << shift));
        } else {
          const int rs = huff_decode(hac);
          if (rs < 0) throw StbRefuses{};
          const int s = rs & 15, run = rs >> 4;
          if (s == 0) {
            if (run < 15) {
              eob_run_ = 1 << run;
              if (run) eob_run_ += get_bits(run);
              --eob_run_;
              break;
            }
            k += 16;
          } else {
            k += run;
            const std::size_t zig = kDezigzag[static_cast<std::size_t>(k++)];
            data[zig] = static_cast<std::int16_t>(extend_receive(s) * (1 << shift));
          }
        }
      } while (k <= spec_end_);
      return;
    }
    // Refinement: which coefficients are already non-zero decides which bits are read.
    const int bit = 1 << succ_low_;
    auto refine = [&](std::int16_t* p) {
      if (get_bit() && (*p & bit) == 0) *p = static_cast<std::int16_t>(*p > 0 ? *p + bit : *p - bit);
    };
    if (eob_run_) {
      --eob_run_;
      for (int k = spec_start_; k <= spec_end_; ++k) {
        std::int16_t* p = &data[kDezigzag[static_cast<std::size_t>(k)]];
        if (*p != 0) refine(p);
      }
      return;
    }
    int k = spec_start_;
    do {
      const int rs = huff_decode(hac);
      if (rs < 0) throw StbRefuses{};
      int s = rs & 15, r = rs >> 4;
      if (s == 0) {
        if (r < 15) {
          eob_run_ = (1 << r) - 1;
          if (r) eob_run_ += get_bits(r);
          r = 64;
        }
      } else {
        if (s != 1) throw StbRefuses{};
        s = get_bit() ? bit : -bit;
      }
      while (k <= spec_end_) {
        std::int16_t* p = &data[kDezigzag[static_cast<std::size_t>(k++)]];
        if (*p != 0) {
          refine(p);
        } else {
          if (r == 0) {
            *p = static_cast<std::int16_t>(s);
            break;
          }
          --r;
        }
      }
    } while (k <= spec_end_);
  }

  // ----- a scan (stbi__parse_entropy_coded_data) -----
  void reset() {
    code_bits_ = 0;
    code_buffer_ = 0;
    nomore_ = false;
    marker_ = kNoMarker;
    todo_ = restart_interval_ ? restart_interval_ : 0x7fffffff;
    eob_run_ = 0;
  }

  // After each MCU: at the end of a restart interval the next marker must be a restart marker,
  // or stb ends the scan there (returns false).
  bool count_down() {
    if (--todo_ <= 0) {
      if (code_bits_ < 24) grow();
      if (!(marker_ >= 0xd0 && marker_ <= 0xd7)) return false;
      reset();
    }
    return true;
  }

  // A decompression bomb: a header that claims a large image over a few hundred bytes of image
  // data. When the data runs out stb pads it with zero bits, which can decode as valid codes, so
  // it would "decode" millions of blocks from nothing, for seconds (a fuzzing finding:
  // 16133x1536 from 671 bytes). Every block of a baseline scan takes at least 2 bits (a DC code
  // and an end-of-block code, each at least one bit long), every block of a progressive DC scan
  // at least 1 (its DC code, or its refinement bit). Progressive AC scans are not bounded: one
  // end-of-band run covers up to 32,767 blocks. A scan that has decoded more blocks than the
  // bytes it has read can hold is decoding padding, and is refused. Called after each block;
  // the bytes read include the bit reader's look-ahead, so real data never trips it.
  void check_data_holds_blocks(long scan_blocks) {
    const long min_bits = !progressive_ ? 2 : spec_start_ == 0 ? 1 : 0;
    const long bits_read = 8 * static_cast<long>(pos_ - scan_start_);
    if ((blocks_ + 1) * min_bits > bits_read)
      throw_data_error(name_, ": corrupt JPEG (the image data of scan ", scan_ + 1, " is ", pos_ - scan_start_,
                       " bytes, too short for the ", scan_blocks, " blocks of a ", img_x_, "x", img_y_,
                       " image: each block takes at least ", min_bits, min_bits == 1 ? " bit)" : " bits)");
  }

  void parse_entropy_coded_data() {
    reset();
    blocks_ = 0;
    scan_start_ = pos_;
    if (scan_n_ == 1) {
      Component& k = comp_[static_cast<std::size_t>(order_[0])];
      const int w = (k.x + 7) >> 3, h = (k.y + 7) >> 3;
      for (int j = 0; j < h; ++j)
        for (int i = 0; i < w; ++i, ++blocks_) {
          if (!progressive_) {
            decode_block(k);
          } else if (spec_start_ == 0) {
            decode_block_prog_dc(k);
          } else {
            decode_block_prog_ac(k, &k.coeff[static_cast<std::size_t>(i + j * k.coeff_w) * 64]);
          }
          check_data_holds_blocks(static_cast<long>(w) * h);
          if (!count_down()) return;
        }
      return;
    }
    long mcu_blocks = 0;
    for (int n = 0; n < scan_n_; ++n) {
      const Component& k = comp_[static_cast<std::size_t>(order_[static_cast<std::size_t>(n)])];
      mcu_blocks += static_cast<long>(k.h) * k.v;
    }
    for (int j = 0; j < mcu_y_; ++j)
      for (int i = 0; i < mcu_x_; ++i) {
        for (int n = 0; n < scan_n_; ++n) {
          const Component& k = comp_[static_cast<std::size_t>(order_[static_cast<std::size_t>(n)])];
          for (int y = 0; y < k.v; ++y)
            for (int x = 0; x < k.h; ++x, ++blocks_) {
              progressive_ ? decode_block_prog_dc(k) : decode_block(k);
              check_data_holds_blocks(mcu_blocks * mcu_x_ * mcu_y_);
            }
        }
        if (!count_down()) return;
      }
  }

  const std::uint8_t* b_;
  std::size_t size_;
  const std::string& name_;
  std::int64_t max_side_, max_pixels_;
  std::size_t pos_ = 0;
  std::size_t scan_start_ = 0;  // where the current scan's image data begins
  int restart_interval_ = 0;
  bool progressive_ = false;
  int img_x_ = 0, img_y_ = 0, mcu_x_ = 0, mcu_y_ = 0;
  std::vector<Component> comp_;
  std::array<Huffman, 4> dc_{}, ac_{};
  std::array<std::array<std::int16_t, 1 << kFastBits>, 4> fast_ac_{};
  std::array<int, 4> order_{};
  int scan_n_ = 0, spec_start_ = 0, spec_end_ = 0, succ_high_ = 0, succ_low_ = 0;
  std::uint32_t code_buffer_ = 0;
  int code_bits_ = 0;
  bool nomore_ = false;
  int marker_ = kNoMarker;
  int todo_ = 0, eob_run_ = 0;
  long scan_ = 0, blocks_ = 0;
};

// Where the start-of-image marker ends, found as stb finds it (any number of FF fill bytes
// before FF D8), or 0 when the bytes do not start like a JPEG.
std::size_t after_soi(const std::uint8_t* b, std::size_t size) {
  if (size < 2 || b[0] != 0xff) return 0;
  std::size_t i = 1;
  while (i < size && b[i] == 0xff) ++i;
  return i < size && b[i] == 0xd8 ? i + 1 : 0;
}

}  // namespace

void check_jpeg_for_stb(const std::uint8_t* bytes, std::size_t size, const std::string& name, std::int64_t max_side,
                        std::int64_t max_pixels) {
  const std::size_t start = after_soi(bytes, size);
  if (start == 0) return;
  try {
    Walk(bytes, size, name, max_side, max_pixels).run(start);
  } catch (const StbRefuses&) {
    // stb refuses the file at the same point with its own reason (or the image is too large
    // and the caller refuses it).
  }
}

}  // namespace minidl::data
