// The synthetic face generator. A face is drawn in a "face frame": x to the face's right, y
// down, both in pixels, rotated by the pose's roll about the face centre; features are placed
// in face units (u = x / a, v = y / b, the face ellipse being u^2 + v^2 <= 1) so a face scales
// to any image size. Every shape is painted with an analytic coverage (a signed distance in
// pixels, ramped over one pixel), which is what makes small faces (48x48, 28x28) anti-aliased
// without supersampling.
#include "minidl/data/synthetic_faces.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

#include "minidl/base/error.h"
#include "minidl/data/random.h"

namespace minidl::data {

namespace {

// Independent random streams per aspect of a face, so that e.g. a face's identity does not
// depend on its expression, and changing how noise is drawn does not change the faces.
constexpr std::uint64_t kLabelStream = 0x1abe1;
constexpr std::uint64_t kIdentityStream = 0x1de47;
constexpr std::uint64_t kExpressionStream = 0xe4b7e5;
constexpr std::uint64_t kPoseStream = 0x9053;
constexpr std::uint64_t kImagingStream = 0x1a6e;
constexpr std::uint64_t kNoiseStream = 0x4015e;
constexpr std::uint64_t kNuisanceStream = 0x0cc1de;

// How far a unit of brow raise moves the brows, in face units.
constexpr float kBrowGain = 1.5f;

enum Cls { kAngry = 0, kDisgust, kFear, kHappy, kSad, kSurprise, kNeutral, kNumClasses };

float clampf(float v, float lo, float hi) { return std::min(std::max(v, lo), hi); }
float sq(float v) { return v * v; }
// Coverage of a shape at signed distance sd (pixels, negative inside), ramped over one pixel.
float cover(float sd) { return clampf(0.5f - sd, 0.f, 1.f); }
float smoothstep(float e0, float e1, float x) {
  const float t = clampf((x - e0) / (e1 - e0), 0.f, 1.f);
  return t * t * (3.f - 2.f * t);
}

// Approximate signed distance to an axis-aligned ellipse (Quilez's first-order estimate).
float ellipse_sd(float x, float y, float cx, float cy, float rx, float ry) {
  const float dx = x - cx, dy = y - cy;
  const float k0 = std::sqrt(sq(dx / rx) + sq(dy / ry));
  const float k1 = std::sqrt(sq(dx / (rx * rx)) + sq(dy / (ry * ry)));
  if (k1 < 1e-6f) return -std::min(rx, ry);
  return k0 * (k0 - 1.f) / k1;
}

// Distance from (x, y) to segment p-q, and where along it (0..1) the nearest point lies.
float segment_distance(float x, float y, float px, float py, float qx, float qy, float* along) {
  const float dx = qx - px, dy = qy - py;
  const float len2 = dx * dx + dy * dy;
  float t = len2 > 0.f ? ((x - px) * dx + (y - py) * dy) / len2 : 0.f;
  t = clampf(t, 0.f, 1.f);
  *along = t;
  return std::sqrt(sq(x - (px + t * dx)) + sq(y - (py + t * dy)));
}

// A stroke: a polyline with a width at each point, in face-frame pixels.
struct Stroke {
  std::vector<float> x, y, width;
  void add(float px, float py, float w) {
    x.push_back(px);
    y.push_back(py);
    width.push_back(w);
  }
  // Signed distance to the stroke's edge.
  float sd(float px, float py) const {
    float best = 1e9f;
    for (std::size_t i = 0; i + 1 < x.size(); ++i) {
      float t;
      const float d = segment_distance(px, py, x[i], y[i], x[i + 1], y[i + 1], &t);
      best = std::min(best, d - 0.5f * (width[i] + t * (width[i + 1] - width[i])));
    }
    return best;
  }
  void bounds(float* x0, float* y0, float* x1, float* y1) const {
    float m = 0.f;
    for (float w : width) m = std::max(m, w);
    *x0 = *std::min_element(x.begin(), x.end()) - m - 2.f;
    *x1 = *std::max_element(x.begin(), x.end()) + m + 2.f;
    *y0 = *std::min_element(y.begin(), y.end()) - m - 2.f;
    *y1 = *std::max_element(y.begin(), y.end()) + m + 2.f;
  }
};

// Quadratic Bezier p0 -> p2 with control p1, sampled into n segments, width w0 -> w2.
Stroke bezier(float x0, float y0, float x1, float y1, float x2, float y2, float w0, float w2, int n = 8) {
  Stroke s;
  for (int i = 0; i <= n; ++i) {
    const float t = static_cast<float>(i) / n, m = 1.f - t;
    s.add(m * m * x0 + 2 * m * t * x1 + t * t * x2, m * m * y0 + 2 * m * t * y1 + t * t * y2, w0 + t * (w2 - w0));
  }
  return s;
}

// ----------------------------------------------------------------------------------------
// What a face is made of
// ----------------------------------------------------------------------------------------

struct Identity {
  float face_w, face_h, jaw;     // face half-size factors, chin taper
  float skin;                    // skin tone 0..255
  float hair, brow_tone;         // hair and brow tone
  int hair_style;                // 0 bald/buzz, 1 short, 2 fringe, 3 long, 4 side part
  float hairline, hair_curve, hair_volume, hair_tilt, hair_phase;
  float eye_x, eye_y, eye_w, iris_tone, gap, brow_thick, brow_arch;
  float nose_len, nose_w;
  float mouth_y, mouth_w, lip_upper, lip_lower, lip_tone;
  float lines;                   // age lines (nasolabial, crease) 0..1
  bool glasses, stubble;
  float glasses_tone;
  float background, bg_gx, bg_gy, clothes;
  float gaze_x, gaze_y;
};

struct Pose {
  float roll;              // radians
  float yaw;               // feature shift in face units (-0.1..0.1)
  float dx, dy, scale;     // face centre offset (fraction of the image) and size factor
};

struct Expression {
  float brow_inner = 0, brow_outer = 0, knit = 0;  // raises (face units, + is up) and inward pull
  float eye_open = 1, lower_lid = 0;
  float curve = 0, open = 0, width = 0, round = 0, stretch = 0, press = 0;
  float snarl = 0, wrinkle = 0;
  int snarl_side = 1;
  bool teeth_top = false, teeth_bottom = false;
};

struct Imaging {
  float light_angle, light;       // directional light across the face
  float contrast, brightness;
  float blur;                     // Gaussian sigma at 64 px (scaled with size)
  float noise;                    // Gaussian sigma, gray levels
};

// What a photo adds on top of a face: left/right asymmetry of the features, and now and then
// something in front of the face. Drawn from their own stream, independent of the class.
struct Nuisance {
  float brow_tilt = 0;     // the right brow higher than the left (face units)
  float mouth_tilt = 0;    // the right mouth corner higher than the left (face units)
  float eye_ratio = 1;     // the right eye's opening relative to the left's
  int hand = 0;            // 0 none, 1 on a cheek, 2 under the chin, 3 over the mouth
  int hand_side = 1;
  float hand_u = 0, hand_v = 0, hand_angle = 0, hand_size = 1, hand_tone = 1;
  bool lock = false;       // a lock of hair across the forehead and one eye
  int lock_side = 1;
  float lock_width = 0, lock_reach = 0;
  bool sunglasses = false;
};

Identity sample_identity(SampleRng& r) {
  Identity id;
  id.face_w = static_cast<float>(r.uniform(0.90, 1.08));
  id.face_h = static_cast<float>(r.uniform(0.93, 1.07));
  id.jaw = static_cast<float>(r.uniform(0.05, 0.35));
  id.skin = static_cast<float>(r.uniform(75, 215));
  const double hc = r.uniform();
  id.hair = static_cast<float>(hc < 0.72 ? r.uniform(10, 60) : hc < 0.88 ? r.uniform(70, 140) : r.uniform(160, 225));
  id.brow_tone = std::min(id.hair + 20.f, id.skin - 75.f);
  id.brow_tone = std::max(id.brow_tone, 5.f);
  const double hs = r.uniform();
  id.hair_style = hs < 0.08 ? 0 : hs < 0.38 ? 1 : hs < 0.58 ? 2 : hs < 0.85 ? 3 : 4;
  id.hairline = static_cast<float>(r.uniform(-0.80, -0.60));
  id.hair_curve = static_cast<float>(r.uniform(0.15, 0.5));
  id.hair_volume = static_cast<float>(r.uniform(1.04, 1.16));
  id.hair_tilt = static_cast<float>(r.uniform(-0.25, 0.25));
  id.hair_phase = static_cast<float>(r.uniform(0, 6.283));
  id.eye_x = static_cast<float>(r.uniform(0.36, 0.43));
  id.eye_y = static_cast<float>(r.uniform(-0.11, -0.03));
  id.eye_w = static_cast<float>(r.uniform(0.18, 0.22));
  id.iris_tone = static_cast<float>(r.uniform(35, 120));
  id.gap = static_cast<float>(r.uniform(0.15, 0.20));
  id.brow_thick = static_cast<float>(r.uniform(0.045, 0.075));
  id.brow_arch = static_cast<float>(r.uniform(0.02, 0.05));
  id.nose_len = static_cast<float>(r.uniform(0.28, 0.36));
  id.nose_w = static_cast<float>(r.uniform(0.07, 0.10));
  id.mouth_y = static_cast<float>(r.uniform(0.52, 0.60));
  id.mouth_w = static_cast<float>(r.uniform(0.27, 0.34));
  id.lip_upper = static_cast<float>(r.uniform(0.03, 0.055));
  id.lip_lower = static_cast<float>(r.uniform(0.045, 0.075));
  id.lip_tone = static_cast<float>(r.uniform(25, 50));
  id.lines = static_cast<float>(r.uniform(0, 1) * r.uniform(0, 1));
  id.glasses = r.bernoulli(0.08);
  id.stubble = r.bernoulli(0.08);
  id.glasses_tone = static_cast<float>(r.uniform(10, 90));
  id.background = static_cast<float>(r.uniform(25, 225));
  id.bg_gx = static_cast<float>(r.uniform(-35, 35));
  id.bg_gy = static_cast<float>(r.uniform(-35, 35));
  id.clothes = static_cast<float>(r.uniform(15, 225));
  id.gaze_x = static_cast<float>(r.normal_clipped(2.0) * 0.12);
  id.gaze_y = static_cast<float>(r.normal_clipped(2.0) * 0.05);
  return id;
}

Nuisance sample_nuisance(SampleRng& r) {
  constexpr double kHand = 0.05, kLock = 0.08, kSunglasses = 0.02;
  Nuisance n;
  n.brow_tilt = static_cast<float>(r.normal_clipped(2.5) * 0.025);
  n.mouth_tilt = static_cast<float>(r.normal_clipped(2.5) * 0.04);
  n.eye_ratio = static_cast<float>(std::exp(r.normal_clipped(2.5) * 0.10));
  const double uh = r.uniform();
  n.hand = uh >= kHand ? 0 : uh < 0.5 * kHand ? 1 : uh < 0.8 * kHand ? 2 : 3;
  n.hand_side = r.bernoulli(0.5) ? 1 : -1;
  n.hand_u = static_cast<float>(r.uniform(-1.0, 1.0));
  n.hand_v = static_cast<float>(r.uniform(-1.0, 1.0));
  n.hand_angle = static_cast<float>(r.uniform(-0.35, 0.35));
  n.hand_size = static_cast<float>(r.uniform(0.9, 1.15));
  n.hand_tone = static_cast<float>(r.uniform(0.9, 1.08));
  n.lock = r.bernoulli(kLock);
  n.lock_side = r.bernoulli(0.5) ? 1 : -1;
  n.lock_width = static_cast<float>(r.uniform(0.07, 0.13));
  n.lock_reach = static_cast<float>(r.uniform(0.0, 1.0));
  n.sunglasses = r.bernoulli(kSunglasses);
  return n;
}

Pose sample_pose(SampleRng& r) {
  // As wide as a face detector's crops of photos (FER2013's): heads tilt by 10 degrees (sd,
  // up to 25), turn, sit up to 10% of the frame off centre and vary +-15% in size. These are
  // the ranges the augmentation's rotation, translation and scale model; narrower ones (sd 5
  // degrees, 4%, 8%) left augmentation nothing to teach (docs/ablation.md).
  Pose p;
  p.roll = static_cast<float>(r.normal_clipped(2.5) * 10.0 * 3.14159265 / 180.0);
  p.yaw = static_cast<float>(r.uniform(-0.15, 0.15));
  p.dx = static_cast<float>(r.uniform(-0.10, 0.10));
  p.dy = static_cast<float>(r.uniform(-0.10, 0.10));
  p.scale = static_cast<float>(r.uniform(0.85, 1.15));
  return p;
}

Imaging sample_imaging(SampleRng& r) {
  Imaging im;
  im.light_angle = static_cast<float>(r.uniform(0, 6.283));
  im.light = static_cast<float>(r.uniform(0.0, 0.35));
  im.contrast = static_cast<float>(r.uniform(0.8, 1.2));
  im.brightness = static_cast<float>(r.uniform(-20, 20));
  im.blur = static_cast<float>(r.bernoulli(0.35) ? r.uniform(0.3, 0.9) : 0.0);
  im.noise = static_cast<float>(r.uniform(1.0, 6.0));
  return im;
}

// The expression of one face. Each class has a prototype reached at a random intensity from
// the neutral face, then the deliberate overlaps, then per-face jitter of every feature.
Expression sample_expression(int label, SampleRng& r) {
  Expression proto;
  float t = 1.f;
  switch (label) {
    case kAngry:
      proto.brow_inner = -0.09f; proto.brow_outer = 0.015f; proto.knit = 0.06f;
      proto.eye_open = 0.95f; proto.lower_lid = 0.5f; proto.curve = -0.3f;
      if (r.bernoulli(0.6)) {  // lips pressed
        proto.width = -0.05f; proto.press = 1.f;
      } else {                 // shouting
        proto.open = 0.55f; proto.stretch = 1.f; proto.width = 0.02f;
        proto.teeth_top = proto.teeth_bottom = true;
      }
      t = static_cast<float>(r.uniform(0.6, 1.0));
      break;
    case kDisgust:
      proto.brow_inner = -0.065f; proto.brow_outer = -0.01f; proto.knit = 0.035f;
      proto.eye_open = 0.72f; proto.lower_lid = 0.65f; proto.curve = -0.4f;
      proto.open = 0.15f; proto.width = -0.02f; proto.snarl = 1.f; proto.wrinkle = 1.f;
      proto.teeth_top = true;
      t = static_cast<float>(r.uniform(0.6, 1.0));
      break;
    case kFear:
      proto.brow_inner = 0.10f; proto.brow_outer = 0.035f; proto.knit = 0.045f;
      proto.eye_open = 1.45f; proto.lower_lid = 0.35f; proto.curve = -0.25f;
      proto.open = 0.45f; proto.width = 0.07f; proto.stretch = 1.f;
      proto.teeth_bottom = r.bernoulli(0.5);
      t = static_cast<float>(r.uniform(0.6, 1.0));
      break;
    case kHappy:
      proto.brow_inner = 0.01f; proto.brow_outer = 0.015f; proto.eye_open = 0.82f; proto.lower_lid = 0.7f;
      proto.curve = 1.f; proto.width = 0.08f; proto.stretch = 0.3f;
      if (r.bernoulli(0.55)) {
        proto.open = static_cast<float>(r.uniform(0.35, 0.75));
        proto.teeth_top = true;
        proto.teeth_bottom = r.bernoulli(0.3);
      }
      t = static_cast<float>(r.uniform(0.5, 1.0));
      break;
    case kSad:
      proto.brow_inner = 0.085f; proto.brow_outer = -0.035f; proto.knit = 0.025f;
      proto.eye_open = 0.72f; proto.lower_lid = 0.1f; proto.curve = -0.75f;
      proto.width = -0.03f; proto.press = 0.3f;
      if (r.bernoulli(0.15)) proto.open = 0.12f;
      t = static_cast<float>(r.uniform(0.15, 1.0));
      break;
    case kSurprise:
      proto.brow_inner = 0.12f; proto.brow_outer = 0.12f; proto.eye_open = 1.6f;
      proto.open = 0.85f; proto.width = -0.10f; proto.round = 1.f;
      proto.teeth_top = r.bernoulli(0.2);
      t = static_cast<float>(r.uniform(0.6, 1.0));
      break;
    default:
      t = 0.f;
      break;
  }

  // Deliberate overlaps between classes.
  if (label == kFear) {
    const double u = r.uniform();
    if (u < 0.12) {  // the whole face of Surprise, only a little knit in the brows
      proto.brow_inner = 0.11f; proto.brow_outer = 0.10f; proto.knit = 0.02f; proto.eye_open = 1.5f;
      proto.lower_lid = 0.1f; proto.curve = 0.f; proto.open = 0.75f; proto.width = -0.08f; proto.round = 1.f;
      proto.stretch = 0.f;
    } else if (u < 0.38) {  // Surprise's round mouth
      proto.round = 1.f; proto.stretch = 0.f; proto.width = -0.06f; proto.open = 0.7f; proto.curve = 0.f;
    } else if (u < 0.55) {  // closed mouth, corners down, eyes less wide: close to Sad
      proto.open = 0.f; proto.curve = -0.5f; proto.eye_open = 1.15f; proto.stretch = 0.f; proto.width = -0.02f;
    }
    if (r.bernoulli(0.25)) {  // Surprise's arched brows
      proto.knit = 0.f; proto.brow_outer = 0.10f;
    }
  } else if (label == kSurprise) {
    if (r.bernoulli(0.12)) {  // Fear's stretched mouth and knit brows
      proto.knit = 0.04f; proto.brow_outer = 0.04f; proto.round = 0.f; proto.stretch = 1.f; proto.open = 0.5f;
      proto.width = 0.04f; proto.eye_open = 1.45f;
    } else if (r.bernoulli(0.25)) {  // Fear's knit, flatter brows
      proto.knit = 0.035f; proto.brow_outer = 0.05f;
    }
    if (r.bernoulli(0.15)) {  // a stretched, less round mouth
      proto.round = 0.4f; proto.stretch = 0.6f; proto.width = 0.f;
    }
  } else if (label == kDisgust) {
    if (r.bernoulli(0.4)) {  // faint wrinkle and no snarl: reads as Angry
      proto.snarl = static_cast<float>(r.uniform(0.0, 0.25));
      proto.wrinkle = static_cast<float>(r.uniform(0.1, 0.45));
      proto.open = 0.f; proto.press = 0.6f; proto.teeth_top = false;
    }
  } else if (label == kAngry) {
    if (r.bernoulli(0.2)) proto.wrinkle = 0.4f;  // some anger wrinkles the nose too
    if (r.bernoulli(0.10)) proto.snarl = 0.3f;
  } else if (label == kSad) {
    if (r.bernoulli(0.2)) proto.curve = static_cast<float>(r.uniform(-0.2, 0.0));  // only the brows tell
  }
  Expression e;
  // A neutral face sometimes carries a trace of another expression.
  if (label == kNeutral && r.bernoulli(0.3)) {
    const int other = static_cast<int>(r.below(6));
    SampleRng sub(r.next_u64());
    Expression trace = sample_expression(other, sub);
    const float k = static_cast<float>(r.uniform(0.05, 0.3));
    proto = trace;
    t = k;
  }
  e.brow_inner = t * proto.brow_inner;
  e.brow_outer = t * proto.brow_outer;
  e.knit = t * proto.knit;
  e.eye_open = 1.f + t * (proto.eye_open - 1.f);
  e.lower_lid = t * proto.lower_lid;
  e.curve = t * proto.curve;
  e.open = t * proto.open;
  e.width = t * proto.width;
  e.round = proto.round;
  e.stretch = proto.stretch;
  e.press = t * proto.press;
  e.snarl = t * proto.snarl;
  e.wrinkle = t * proto.wrinkle;
  e.teeth_top = proto.teeth_top;
  e.teeth_bottom = proto.teeth_bottom;
  e.snarl_side = r.bernoulli(0.5) ? 1 : -1;

  // Every face's resting idiosyncrasies.
  e.brow_inner += static_cast<float>(r.normal_clipped(2.5) * 0.018);
  e.brow_outer += static_cast<float>(r.normal_clipped(2.5) * 0.018);
  e.knit = std::max(0.f, e.knit + static_cast<float>(r.normal_clipped(2.5) * 0.01));
  e.eye_open *= static_cast<float>(std::exp(r.normal_clipped(2.5) * 0.12));
  e.lower_lid = clampf(e.lower_lid + static_cast<float>(r.normal_clipped(2.5) * 0.1), 0.f, 1.f);
  e.curve += static_cast<float>(r.normal_clipped(2.5) * 0.14);
  e.open = std::max(0.f, e.open + (e.open > 0.f ? static_cast<float>(r.normal_clipped(2.5) * 0.06) : 0.f));
  e.width += static_cast<float>(r.normal_clipped(2.5) * 0.025);
  return e;
}

// ----------------------------------------------------------------------------------------
// Painting
// ----------------------------------------------------------------------------------------

class Painter {
 public:
  Painter(std::int64_t h, std::int64_t w, float cx, float cy, float roll, float a, float b)
      : h_(h), w_(w), px_(static_cast<std::size_t>(h * w), 0.f), cx_(cx), cy_(cy),
        cs_(std::cos(roll)), sn_(std::sin(roll)), a(a), b(b) {}

  // Paints `shade` over the face-frame box [x0, x1] x [y0, y1]. shade(x, y, &value) returns
  // the coverage in [0, 1] and sets the value to paint there.
  template <typename Shade>
  void paint(float x0, float y0, float x1, float y1, Shade&& shade) {
    float ix0 = 1e9f, iy0 = 1e9f, ix1 = -1e9f, iy1 = -1e9f;
    for (float fx : {x0, x1})
      for (float fy : {y0, y1}) {
        const float ix = cx_ + cs_ * fx - sn_ * fy, iy = cy_ + sn_ * fx + cs_ * fy;
        ix0 = std::min(ix0, ix); ix1 = std::max(ix1, ix);
        iy0 = std::min(iy0, iy); iy1 = std::max(iy1, iy);
      }
    const auto xa = static_cast<std::int64_t>(std::max(0.f, std::floor(ix0)));
    const auto xb = static_cast<std::int64_t>(std::min(static_cast<float>(w_ - 1), std::ceil(ix1)));
    const auto ya = static_cast<std::int64_t>(std::max(0.f, std::floor(iy0)));
    const auto yb = static_cast<std::int64_t>(std::min(static_cast<float>(h_ - 1), std::ceil(iy1)));
    for (std::int64_t y = ya; y <= yb; ++y) {
      for (std::int64_t x = xa; x <= xb; ++x) {
        const float dx = static_cast<float>(x) - cx_, dy = static_cast<float>(y) - cy_;
        const float fx = cs_ * dx + sn_ * dy, fy = -sn_ * dx + cs_ * dy;
        float value = 0.f;
        const float alpha = shade(fx, fy, value);
        if (alpha > 0.f) {
          float& p = px_[static_cast<std::size_t>(y * w_ + x)];
          p += std::min(alpha, 1.f) * (value - p);
        }
      }
    }
  }
  // Paints every pixel of the image; shade gets image coordinates.
  template <typename Shade>
  void paint_image(Shade&& shade) {
    for (std::int64_t y = 0; y < h_; ++y)
      for (std::int64_t x = 0; x < w_; ++x) px_[static_cast<std::size_t>(y * w_ + x)] = shade(float(x), float(y));
  }
  void stroke(const Stroke& s, float value, float alpha = 1.f) {
    float x0, y0, x1, y1;
    s.bounds(&x0, &y0, &x1, &y1);
    paint(x0, y0, x1, y1, [&](float x, float y, float& v) {
      v = value;
      return alpha * cover(s.sd(x, y));
    });
  }
  void ellipse(float ex, float ey, float rx, float ry, float value, float alpha = 1.f) {
    paint(ex - rx - 2, ey - ry - 2, ex + rx + 2, ey + ry + 2, [&](float x, float y, float& v) {
      v = value;
      return alpha * cover(ellipse_sd(x, y, ex, ey, rx, ry));
    });
  }
  // A soft blob: alpha falls smoothly from `alpha` at the centre to 0 at the ellipse's edge.
  void blob(float ex, float ey, float rx, float ry, float value, float alpha) {
    paint(ex - rx - 1, ey - ry - 1, ex + rx + 1, ey + ry + 1, [&](float x, float y, float& v) {
      v = value;
      const float r2 = sq((x - ex) / rx) + sq((y - ey) / ry);
      return r2 >= 1.f ? 0.f : alpha * sq(1.f - r2);
    });
  }

  std::vector<float>& pixels() { return px_; }
  std::int64_t h() const { return h_; }
  std::int64_t w() const { return w_; }

 private:
  std::int64_t h_, w_;
  std::vector<float> px_;
  float cx_, cy_, cs_, sn_;

 public:
  const float a, b;  // face half-width and half-height in pixels
};

void gaussian_blur(std::vector<float>& img, std::int64_t h, std::int64_t w, float sigma) {
  const int radius = static_cast<int>(std::ceil(2.5f * sigma));
  std::vector<float> k(2 * radius + 1);
  float sum = 0.f;
  for (int i = -radius; i <= radius; ++i) sum += k[i + radius] = std::exp(-0.5f * sq(i / sigma));
  for (float& v : k) v /= sum;
  std::vector<float> tmp(img.size());
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) {
      float acc = 0.f;
      for (int i = -radius; i <= radius; ++i) acc += k[i + radius] * img[y * w + std::clamp<std::int64_t>(x + i, 0, w - 1)];
      tmp[y * w + x] = acc;
    }
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) {
      float acc = 0.f;
      for (int i = -radius; i <= radius; ++i) acc += k[i + radius] * tmp[std::clamp<std::int64_t>(y + i, 0, h - 1) * w + x];
      img[y * w + x] = acc;
    }
}

GrayImage render(const Identity& id, const Pose& pose, const Expression& ex, const Imaging& im, const Nuisance& nz,
                 std::uint64_t noise_key, std::int64_t H, std::int64_t W) {
  const float S = static_cast<float>(std::min(H, W));
  const float a = 0.39f * S * id.face_w * pose.scale, b = 0.50f * S * id.face_h * pose.scale;
  const float cx = 0.5f * (W - 1) + pose.dx * S, cy = 0.52f * (H - 1) + pose.dy * S;
  Painter p(H, W, cx, cy, pose.roll, a, b);
  const float px = std::max(1.f, S / 64.f);  // thin lines are at least ~1 pixel at 64x64
  const float u0 = pose.yaw;                 // where the face's midline sits (face units)
  const float lx = std::cos(im.light_angle), ly = std::sin(im.light_angle);
  const float skin = id.skin;

  // Background, with a gradient.
  p.paint_image([&](float x, float y) {
    return id.background + id.bg_gx * (x / W - 0.5f) * 2.f + id.bg_gy * (y / H - 0.5f) * 2.f;
  });
  // Long hair falls behind the head and shoulders.
  if (id.hair_style == 3) {
    p.paint(-1.4f * a, -1.3f * b, 1.4f * a, 1.6f * b, [&](float x, float y, float& v) {
      v = id.hair + 6.f * std::sin(x / a * 25.f + id.hair_phase);
      const float sd_head = ellipse_sd(x, y, 0.f, -0.05f * b, 1.22f * a * id.hair_volume, 1.12f * b * id.hair_volume);
      const float sd_fall = std::max(std::abs(x) - 1.22f * a * id.hair_volume, y - 1.4f * b);
      return cover(std::min(sd_head, std::max(sd_fall, -y)));
    });
  }
  // Shoulders and neck.
  p.ellipse(0.f, 1.85f * b, 1.9f * a, 0.75f * b, id.clothes);
  p.paint(-0.5f * a, 0.3f * b, 0.5f * a, 1.9f * b, [&](float x, float /*y*/, float& v) {
    v = skin * 0.78f;
    return cover(std::abs(x) - 0.44f * a);
  });
  // Ears.
  for (int s : {-1, 1}) p.ellipse(s * 0.98f * a, 0.02f * b, 0.14f * a, 0.24f * b, skin * 0.88f);

  // The face: an ellipse with a tapered jaw, lit from one side, darker towards its rim.
  p.paint(-1.05f * a, -1.05f * b, 1.05f * a, 1.05f * b, [&](float x, float y, float& v) {
    const float u = x / a, vv = y / b;
    const float wv = 1.f - id.jaw * sq(std::max(vv, 0.f));
    const float r = std::sqrt(sq(u / wv) + sq(vv));
    const float g = std::sqrt(sq(u / (wv * wv * a)) + sq(vv / b)) / std::max(r, 1e-3f);
    const float shade = 1.f + im.light * (lx * u + ly * vv) - 0.16f * sq(sq(std::min(r, 1.f)));
    v = skin * shade;
    return cover((r - 1.f) / g);
  });
  // Stubble darkens and textures the lower face.
  if (id.stubble) {
    p.paint(-a, -0.02f * b, a, 1.05f * b, [&](float x, float y, float& v) {
      const float u = x / a, vv = y / b;
      const float wv = 1.f - id.jaw * sq(std::max(vv, 0.f));
      const float r = std::sqrt(sq(u / wv) + sq(vv));
      v = skin * 0.7f + 8.f * std::sin(x * 2.1f) * std::sin(y * 2.3f);
      // Around the mouth and along the jaw, not on the cheeks under the eyes.
      const float region = smoothstep(0.15f, 0.6f, vv + 0.25f * std::abs(u)) * smoothstep(0.0f, 0.15f, vv);
      return 0.45f * region * cover((r - 0.98f) * a);
    });
  }

  // Hair on top of the head.
  if (id.hair_style != 0) {
    p.paint(-1.3f * a, -1.3f * b, 1.3f * a, 0.4f * b, [&](float x, float y, float& v) {
      const float u = x / a, vv = y / b;
      float line;  // the hairline, in face units
      switch (id.hair_style) {
        case 2: line = -0.5f + 0.035f * std::sin(u * 9.f + id.hair_phase); break;  // fringe
        case 4: line = id.hairline + 0.1f + id.hair_curve * sq(u) + 0.3f * id.hair_tilt * u; break;
        default: line = id.hairline + id.hair_curve * sq(u); break;
      }
      // Hair covers the temples, down to eye level (short styles) or past the ears (long).
      const float temple = id.hair_style == 1 || id.hair_style == 4 ? -0.2f : 0.1f;
      if (temple > line) line += (temple - line) * smoothstep(0.72f, 0.97f, std::abs(u));
      const float sd_line = (vv - line) * b;
      const float sd_head = ellipse_sd(x, y, 0.f, -0.06f * b, 1.04f * a * id.hair_volume, 1.04f * b * id.hair_volume);
      v = id.hair + 7.f * std::sin(u * 31.f + 3.f * std::sin(vv * 7.f) + id.hair_phase) + 10.f * im.light * (lx * u + ly * vv);
      return cover(std::max(sd_line, sd_head));
    });
  } else {
    p.blob(0.f, -1.0f * b, 0.9f * a, 0.35f * b, id.hair, 0.35f);  // a buzz cut's shadow
  }

  const float lip_dark = skin - id.lip_tone;
  const float line_dark = skin * 0.55f;

  // Eyes.
  for (int s : {-1, 1}) {
    const float ew = id.eye_w * a * (1.f - 1.8f * std::max(0.f, pose.yaw * s));
    const float ex_ = (u0 + s * id.eye_x) * a, ey_ = id.eye_y * b;
    const float side_open = s > 0 ? std::sqrt(nz.eye_ratio) : 1.f / std::sqrt(nz.eye_ratio);
    const float up = ew * 0.50f * ex.eye_open * side_open, lo = ew * 0.32f * (1.f - 0.6f * ex.lower_lid);
    auto top = [&](float t) { return ey_ - up * (1.f - t * t) * (1.f - 0.2f * s * t); };
    auto bot = [&](float t) { return ey_ + lo * (1.f - t * t) * (1.f + 0.2f * s * t); };
    // The socket's shadow between eye and brow.
    p.blob(ex_, ey_ - 0.6f * up - 0.03f * b, 1.3f * ew, 0.13f * b, skin * 0.8f, 0.45f);
    // Lower lid fold (cheeks raised by a smile, or tension).
    if (ex.lower_lid > 0.3f) {
      Stroke fold = bezier(ex_ - ew, ey_ + 0.2f * lo, ex_, ey_ + lo + 0.045f * b, ex_ + ew, ey_ + 0.2f * lo, 0.7f * px,
                           0.7f * px);
      p.stroke(fold, skin * 0.75f, 0.5f * (ex.lower_lid - 0.3f));
    }
    const float iris_r = 0.5f * ew, pupil_r = 0.22f * ew;
    const float icx = ex_ + id.gaze_x * ew, icy = ey_ + id.gaze_y * ew + 0.05f * ew;
    const float sclera = clampf(skin + 55.f, 170.f, 235.f);
    p.paint(ex_ - ew - 2, ey_ - up - 2, ex_ + ew + 2, ey_ + lo + 2, [&](float x, float y, float& v) {
      const float t = (x - ex_) / ew;
      if (std::abs(t) >= 1.05f) return 0.f;
      const float tc = clampf(t, -1.f, 1.f);
      const float c = cover((std::abs(t) - 1.f) * ew) * cover(top(tc) - y) * cover(y - bot(tc));
      const float d = std::sqrt(sq(x - icx) + sq(y - icy));
      const float in_iris = cover(d - iris_r), in_pupil = cover(d - pupil_r);
      v = sclera * (0.82f + 0.18f * (1.f - tc * tc));
      v += in_iris * (id.iris_tone - v);
      v += in_pupil * (12.f - v);
      return c;
    });
    // Catch light.
    p.ellipse(icx + 0.25f * iris_r * s, icy - 0.35f * iris_r, 0.45f * px, 0.45f * px, 235.f, ex.eye_open > 0.5f ? 0.8f : 0.f);
    // Lash line along the upper lid, heavier towards the outer corner, and the lid crease.
    Stroke lash, crease;
    for (int i = 0; i <= 10; ++i) {
      const float t = -1.05f + 2.1f * i / 10.f;
      lash.add(ex_ + t * ew, top(clampf(t, -1.f, 1.f)), px * (0.9f + 0.5f * std::max(0.f, s * t)));
      const float tt = clampf(t, -1.f, 1.f);
      crease.add(ex_ + t * ew * 0.95f, top(tt) - 0.03f * b - 0.15f * ew * (1.f - tt * tt), 0.7f * px);
    }
    p.stroke(crease, skin * 0.7f, 0.25f + 0.35f * id.lines);
    p.stroke(lash, 25.f);
    // Glasses.
    if (id.glasses) {
      Stroke frame;
      const float gw = 1.45f * ew, gh = 0.11f * b;
      for (int i = 0; i <= 16; ++i) {
        const float ang = 6.2832f * i / 16.f;
        const float cxg = std::cos(ang), syg = std::sin(ang);
        frame.add(ex_ + gw * (std::abs(cxg) > 0 ? std::copysign(std::pow(std::abs(cxg), 0.6f), cxg) : 0.f),
                  ey_ + 0.01f * b + gh * std::copysign(std::pow(std::abs(syg), 0.6f), syg), 1.1f * px);
      }
      p.stroke(frame, id.glasses_tone);
    }
  }
  if (id.glasses) {
    const float gw = 1.45f * id.eye_w * a;
    Stroke bridge = bezier((u0 - id.eye_x) * a + gw, id.eye_y * b, u0 * a, id.eye_y * b - 0.04f * b,
                           (u0 + id.eye_x) * a - gw, id.eye_y * b, 1.1f * px, 1.1f * px, 4);
    p.stroke(bridge, id.glasses_tone);
  }

  // Brows: a tapered quadratic curve per side. Inner ends rise (sad, fear, surprise) or drop
  // and pull in (angry, disgust); outer ends rise for surprise; the arch follows.
  for (int s : {-1, 1}) {
    const float base = id.eye_y - id.gap;
    const float iu = id.eye_x - id.eye_w * 1.05f - ex.knit, ou = id.eye_x + id.eye_w * 1.25f;
    const float tilt = 0.5f * s * nz.brow_tilt;
    const float iv = base - kBrowGain * ex.brow_inner - tilt, ov = base + 0.025f - kBrowGain * ex.brow_outer - tilt;
    const float arch = id.brow_arch * (1.f - 0.6f * clampf(-ex.brow_inner / 0.09f, 0.f, 1.f)) +
                       0.35f * std::max(0.f, ex.brow_outer) + 0.1f * std::max(0.f, ex.brow_inner);
    // Where the arch peaks: towards the inner end when only the inner end is raised (sad).
    const float oblique = clampf((ex.brow_inner - ex.brow_outer) / 0.1f, 0.f, 1.f);
    const float mu = iu + (ou - iu) * (0.55f - 0.3f * oblique);
    const float mv = 0.5f * (iv + ov) - 2.f * arch;
    Stroke brow = bezier((u0 + s * iu) * a, iv * b, (u0 + s * mu) * a, mv * b, (u0 + s * ou) * a, ov * b,
                         id.brow_thick * b, 0.55f * id.brow_thick * b);
    p.stroke(brow, id.brow_tone);
  }
  // Glabella lines from knitting the brows.
  if (ex.knit > 0.02f) {
    const float base = (id.eye_y - id.gap + 0.02f) * b;
    for (int s : {-1, 1}) {
      Stroke l = bezier((u0 + s * 0.05f) * a, base - 0.06f * b, (u0 + s * 0.035f) * a, base, (u0 + s * 0.05f) * a,
                        base + 0.07f * b, 0.8f * px, 0.6f * px, 4);
      p.stroke(l, line_dark, clampf((ex.knit - 0.02f) * 15.f, 0.f, 0.8f));
    }
  }

  // Nose: a shadowed side of the bridge, a lit tip, the nostrils. Disgust flares and lifts them
  // and wrinkles the bridge.
  const float nose_tip = id.eye_y + id.nose_len;
  {
    const float side = lx > 0 ? -1.f : 1.f;  // the shadow falls on the side away from the light
    Stroke bridge = bezier((u0 + side * 0.06f) * a, (id.eye_y + 0.02f) * b, (u0 + side * 0.07f) * a,
                           (nose_tip - 0.12f) * b, (u0 + side * 0.1f) * a, (nose_tip - 0.02f) * b, 1.2f * px,
                           1.6f * px, 6);
    p.stroke(bridge, skin * 0.72f, 0.25f + 0.6f * im.light);
    p.blob(u0 * a, (nose_tip - 0.02f) * b, 0.11f * a, 0.07f * b, std::min(skin + 25.f, 250.f), 0.35f);
    const float lift = 0.03f * ex.wrinkle, flare = 1.f + 0.35f * ex.wrinkle;
    for (int s : {-1, 1}) {
      p.ellipse((u0 + s * 0.075f * flare) * a, (nose_tip + 0.045f - lift) * b, 0.035f * a * flare, 0.022f * b,
                skin * 0.35f, 0.85f);
      Stroke wing = bezier((u0 + s * id.nose_w * 1.1f * flare) * a, (nose_tip - 0.03f - lift) * b,
                           (u0 + s * id.nose_w * 1.35f * flare) * a, (nose_tip + 0.03f - lift) * b,
                           (u0 + s * id.nose_w * 0.7f) * a, (nose_tip + 0.07f - lift) * b, 0.8f * px, 0.8f * px, 5);
      p.stroke(wing, skin * 0.6f, 0.6f);
    }
    if (ex.wrinkle > 0.05f) {
      for (int k = 0; k < 3; ++k) {
        const float wv = id.eye_y + 0.05f + 0.055f * k;
        const float half = 0.07f + 0.012f * k;
        Stroke w = bezier((u0 - half) * a, (wv + 0.012f) * b, u0 * a, (wv - 0.02f) * b, (u0 + half) * a,
                          (wv + 0.012f) * b, 0.9f * px, 0.9f * px, 6);
        p.stroke(w, line_dark, clampf(ex.wrinkle * 0.9f, 0.f, 0.85f));
      }
    }
  }

  // Mouth. The lip line bends with the corners (smile up, frown down); an open mouth shows a
  // dark interior and teeth; its outline is a lens (smile), an O (surprise) or a stretched
  // rectangle (fear, shouting). Disgust raises the upper lip on one side.
  const float mw = std::max(0.12f, id.mouth_w + ex.width) * a;
  const float mcx = (u0 + 0.3f * pose.yaw) * a, mcy = id.mouth_y * b;
  const float corner = 0.16f * b * ex.curve;
  const float oh = ex.open * 0.28f * b;
  const float q = 2.f + 2.5f * ex.stretch;
  const float rexp = 1.f - 0.5f * ex.round;
  const float tilt = 0.5f * nz.mouth_tilt * b;
  auto mid = [&](float t) { return mcy - corner * t * t - tilt * t; };
  auto prof = [&](float t) { return std::pow(std::max(0.f, 1.f - std::pow(std::abs(t), q)), rexp); };
  auto snarl = [&](float t) {
    return ex.snarl * 0.075f * b * std::max(0.f, 1.f - sq((t - 0.45f * ex.snarl_side) / 0.55f));
  };
  auto up_edge = [&](float t) { return mid(t) - oh * 0.35f * prof(t) - snarl(t); };
  auto lo_edge = [&](float t) { return mid(t) + oh * 0.65f * prof(t); };
  // Nasolabial folds: deeper with a smile or a snarl.
  for (int s : {-1, 1}) {
    const float fold = clampf(0.12f + 0.45f * std::max(0.f, ex.curve) + 0.5f * ex.snarl + 0.3f * id.lines, 0.f, 0.8f);
    Stroke f = bezier((u0 + s * (id.nose_w + 0.06f)) * a, (nose_tip + 0.0f) * b, (u0 + s * (id.nose_w + 0.16f)) * a,
                      (nose_tip + 0.12f) * b, mcx + s * (mw + 0.05f * a), mid(static_cast<float>(s)) + 0.06f * b, 0.9f * px, 0.7f * px, 6);
    p.stroke(f, skin * 0.7f, fold);
  }
  {
    const float lip_u = id.lip_upper * b * (1.f - 0.6f * ex.press), lip_l = id.lip_lower * b * (1.f - 0.5f * ex.press);
    const float y0 = mcy - std::abs(corner) - oh - lip_u - 0.1f * b, y1 = mcy + std::abs(corner) + oh + lip_l + 0.05f * b;
    p.paint(mcx - mw - 2, y0, mcx + mw + 2, y1, [&](float x, float y, float& v) {
      const float t = (x - mcx) / mw;
      if (std::abs(t) >= 1.05f) return 0.f;
      const float tc = clampf(t, -1.f, 1.f);
      const float hcov = cover((std::abs(t) - 1.f) * mw);
      const float lens = std::sqrt(std::max(0.f, 1.f - tc * tc));
      const float ue = up_edge(tc), le = lo_edge(tc);
      // Lips (darker than skin), then the opening over them.
      const float in_lips = cover(ue - lip_u * lens - y) * cover(y - le - lip_l * lens);
      float value = lip_dark - 10.f * (y < mid(tc) ? 1.f : 0.f) + 8.f * im.light * ly;
      float alpha = in_lips;
      const float gap = le - ue;
      if (gap > 0.05f) {
        const float in_open = cover(ue - y) * cover(y - le) * std::min(1.f, gap);
        float inner = 30.f;
        const float teeth_h = std::min(0.42f * gap, 0.065f * b);
        if (ex.teeth_top && y < ue + teeth_h) inner = 215.f - 25.f * tc * tc;
        if (ex.teeth_bottom && y > le - 0.8f * teeth_h) inner = 200.f - 25.f * tc * tc;
        value += in_open * (inner - value);
        alpha = std::max(alpha, in_open);
      }
      // The line between the lips.
      const float line = cover(std::abs(y - mid(tc)) - 0.55f * px) * (gap > 1.5f ? 0.f : 1.f);
      value += line * (skin * 0.3f - value);
      alpha = std::max(alpha, line);
      v = value;
      return alpha * hcov;
    });
  }
  // Shadow under the lower lip.
  p.blob(mcx, mcy + oh * 0.65f + id.lip_lower * b + 0.04f * b, 0.5f * mw, 0.035f * b, skin * 0.8f, 0.4f);

  // Sunglasses hide the eyes.
  if (nz.sunglasses) {
    for (int s : {-1, 1}) {
      const float ex_ = (u0 + s * id.eye_x) * a, ey_ = id.eye_y * b + 0.01f * b;
      p.ellipse(ex_, ey_, 1.35f * id.eye_w * a, 0.13f * b, 25.f, 0.95f);
    }
    Stroke bridge = bezier((u0 - id.eye_x + 1.3f * id.eye_w) * a, id.eye_y * b, u0 * a, id.eye_y * b - 0.04f * b,
                           (u0 + id.eye_x - 1.3f * id.eye_w) * a, id.eye_y * b, 1.2f * px, 1.2f * px, 4);
    p.stroke(bridge, 25.f);
  }
  // A lock of hair falling across the forehead towards one eye.
  if (nz.lock && id.hair_style != 0) {
    const float s = static_cast<float>(nz.lock_side);
    const float end_v = id.eye_y - 0.12f + 0.25f * nz.lock_reach;
    Stroke lock = bezier((u0 + s * 0.05f) * a, -0.95f * b, (u0 + s * 0.15f) * a, -0.45f * b,
                         (u0 + s * (id.eye_x + 0.05f)) * a, end_v * b, nz.lock_width * b, 0.35f * nz.lock_width * b);
    p.stroke(lock, id.hair + 6.f, 0.95f);
  }
  // A hand in front of the face: on a cheek, under the chin or over the mouth. A palm and four
  // fingers, outlined a little darker so that it reads against skin of the same tone.
  if (nz.hand) {
    const float s = static_cast<float>(nz.hand_side);
    float hu, hv, ang;  // palm centre (face units) and the fingers' direction (radians, 0 = up)
    if (nz.hand == 1) {
      hu = s * (0.95f + 0.1f * nz.hand_u), hv = 0.65f + 0.15f * nz.hand_v, ang = -s * (0.25f + 0.3f * nz.hand_angle);
    } else if (nz.hand == 2) {
      hu = 0.25f * nz.hand_u, hv = 1.2f + 0.08f * nz.hand_v, ang = 0.5f * nz.hand_angle;
    } else {
      hu = 0.2f * nz.hand_u, hv = id.mouth_y + 0.28f + 0.06f * nz.hand_v, ang = s * (0.9f + 0.4f * nz.hand_angle);
    }
    const float hs = nz.hand_size * a, tone = std::min(250.f, skin * nz.hand_tone);
    const float dx = std::sin(ang), dy = -std::cos(ang);   // along the fingers
    const float cx0 = hu * a, cy0 = hv * b;
    for (int k = 0; k < 4; ++k) {
      const float off = (k - 1.5f) * 0.13f * hs, len = (0.42f + (k == 1 || k == 2 ? 0.06f : 0.f)) * hs;
      const float bx = cx0 + off * -dy + 0.2f * hs * dx, by = cy0 + off * dx + 0.2f * hs * dy;
      Stroke finger;
      finger.add(bx, by, 0.12f * hs);
      finger.add(bx + len * dx, by + len * dy, 0.11f * hs);
      Stroke edge = finger;
      for (float& w : edge.width) w += 1.4f * px;
      p.stroke(edge, tone * 0.72f);
      p.stroke(finger, tone);
    }
    p.ellipse(cx0, cy0, 0.3f * hs, 0.3f * hs, tone * 0.72f);
    p.ellipse(cx0, cy0, 0.3f * hs - px, 0.3f * hs - px, tone * 0.97f);
  }
  // The camera: contrast and brightness, blur, sensor noise.
  std::vector<float>& img = p.pixels();
  for (float& v : img) v = (v - 128.f) * im.contrast + 128.f + im.brightness;
  const float sigma = im.blur * S / 64.f;
  if (sigma >= 0.3f) gaussian_blur(img, H, W, sigma);
  SampleRng noise(noise_key);
  GrayImage out(H, W);
  for (std::size_t i = 0; i < img.size(); ++i) {
    const float n = noise.approx_normal() * im.noise;
    out.pixels[i] = static_cast<std::uint8_t>(clampf(std::nearbyint(img[i] + n), 0.f, 255.f));
  }
  return out;
}

}  // namespace

const std::vector<double>& SyntheticFaces::class_proportions() {
  static const std::vector<double> p = [] {
    const double counts[] = {4953, 547, 5121, 8989, 6077, 4002, 6198};
    std::vector<double> out;
    for (double c : counts) out.push_back(c / 35887.0);
    return out;
  }();
  return p;
}

std::int64_t synthetic_face_label(std::uint64_t seed, std::int64_t face_index) {
  SampleRng r(seed, kLabelStream, static_cast<std::uint64_t>(face_index));
  const double u = r.uniform();
  const auto& p = SyntheticFaces::class_proportions();
  double acc = 0.0;
  for (std::size_t c = 0; c + 1 < p.size(); ++c) {
    acc += p[c];
    if (u < acc) return static_cast<std::int64_t>(c);
  }
  return static_cast<std::int64_t>(p.size() - 1);
}

Sample draw_synthetic_face(std::uint64_t seed, std::int64_t face_index, std::int64_t height, std::int64_t width) {
  MINIDL_CHECK(height >= 8 && width >= 8, "synthetic faces: image size ", height, "x", width, " is too small (min 8x8)");
  const auto idx = static_cast<std::uint64_t>(face_index);
  Sample s;
  s.label = synthetic_face_label(seed, face_index);
  SampleRng rid(seed, kIdentityStream, idx), rex(seed, kExpressionStream, idx), rpose(seed, kPoseStream, idx),
      rim(seed, kImagingStream, idx);
  const Identity id = sample_identity(rid);
  const Expression ex = sample_expression(static_cast<int>(s.label), rex);
  const Pose pose = sample_pose(rpose);
  const Imaging im = sample_imaging(rim);
  SampleRng rnz(seed, kNuisanceStream, idx);
  const Nuisance nz = sample_nuisance(rnz);
  s.image = render(id, pose, ex, im, nz, hash_key(seed, kNoiseStream, idx), height, width);
  return s;
}

SyntheticFaces::SyntheticFaces(const SyntheticFacesOptions& options) : options_(options) {
  MINIDL_CHECK(options.size > 0, "synthetic faces: size ", options.size, " must be positive (empty data set)");
  MINIDL_CHECK(options.first_index >= 0, "synthetic faces: first index ", options.first_index, " is negative");
  MINIDL_CHECK(options.height >= 8 && options.width >= 8, "synthetic faces: image size ", options.height, "x",
               options.width, " is too small (min 8x8)");
}

Sample SyntheticFaces::get(std::int64_t i) const {
  check_index(i);
  return draw_synthetic_face(options_.seed, options_.first_index + i, options_.height, options_.width);
}

std::int64_t SyntheticFaces::label(std::int64_t i) const {
  check_index(i);
  return synthetic_face_label(options_.seed, options_.first_index + i);
}

std::string SyntheticFaces::description() const {
  std::ostringstream os;
  os << "synthetic faces (seed " << options_.seed << ", " << options_.size << " images";
  if (options_.first_index) os << " from face " << options_.first_index;
  os << ", " << options_.height << "x" << options_.width << ")";
  return os.str();
}

}  // namespace minidl::data
