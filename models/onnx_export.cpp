#include "minidl/models/onnx_export.h"

#include <vector>

#include "minidl/config.h"
#include "minidl/core/atomic_file.h"
#include "minidl/base/error.h"
#include "minidl/core/protobuf.h"

namespace minidl {

namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ONNX raw_data is little-endian; add a byte swap here");

// Field numbers and enum values of onnx/onnx.proto (IR version 8).
namespace field {
constexpr int kModelIrVersion = 1, kModelProducerName = 2, kModelProducerVersion = 3, kModelDocString = 6,
              kModelGraph = 7, kModelOpsetImport = 8, kModelMetadataProps = 14;
constexpr int kOpsetDomain = 1, kOpsetVersion = 2;
constexpr int kEntryKey = 1, kEntryValue = 2;
constexpr int kGraphNode = 1, kGraphName = 2, kGraphInitializer = 5, kGraphInput = 11, kGraphOutput = 12;
constexpr int kNodeInput = 1, kNodeOutput = 2, kNodeName = 3, kNodeOpType = 4, kNodeAttribute = 5;
constexpr int kAttrName = 1, kAttrF = 2, kAttrI = 3, kAttrInts = 8, kAttrType = 20;
constexpr int kTensorDims = 1, kTensorDataType = 2, kTensorName = 8, kTensorRawData = 9;
constexpr int kValueName = 1, kValueType = 2;
constexpr int kTypeTensor = 1, kTensorElemType = 1, kTensorShape = 2, kShapeDim = 1, kDimValue = 1, kDimParam = 2;
}  // namespace field
constexpr std::int64_t kIrVersion = 8;  // ONNX 1.12 onwards; opset 17's release
constexpr std::int64_t kFloat = 1;      // TensorProto.DataType.FLOAT
constexpr std::int64_t kAttrFloat = 1, kAttrInt = 2, kAttrIntList = 7;

struct Attr {
  std::string name;
  enum { Int, Float, Ints } kind;
  std::int64_t i = 0;
  float f = 0;
  std::vector<std::int64_t> ints;
};
Attr ints(const std::string& n, std::vector<std::int64_t> v) { return {n, Attr::Ints, 0, 0.f, std::move(v)}; }
Attr integer(const std::string& n, std::int64_t v) { return {n, Attr::Int, v, 0.f, {}}; }
Attr real(const std::string& n, float v) { return {n, Attr::Float, 0, v, {}}; }

class GraphBuilder {
 public:
  // Adds a weight as an initializer under its state_dict name; returns the name.
  std::string weight(const std::string& name, const Tensor& t) {
    MINIDL_CHECK(t.defined(), "export_onnx: tensor ", name, " is undefined");
    const Tensor host = t.to(Device::cpu()).to(DType::Float32);
    protobuf::Writer w;
    for (std::int64_t d : host.shape()) w.varint(field::kTensorDims, d);
    w.varint(field::kTensorDataType, kFloat);
    w.bytes(field::kTensorName, name);
    w.bytes(field::kTensorRawData, host.raw_data(), host.nbytes());
    graph_.message(field::kGraphInitializer, w);
    return name;
  }

  // Adds a node; its output is named `out`.
  std::string node(const std::string& op, const std::vector<std::string>& inputs, const std::string& out,
                   const std::vector<Attr>& attrs = {}) {
    protobuf::Writer n;
    for (const auto& in : inputs) n.bytes(field::kNodeInput, in);
    n.bytes(field::kNodeOutput, out);
    n.bytes(field::kNodeName, out);
    n.bytes(field::kNodeOpType, op);
    for (const Attr& a : attrs) {
      protobuf::Writer w;
      w.bytes(field::kAttrName, a.name);
      if (a.kind == Attr::Int) {
        w.varint(field::kAttrI, a.i).varint(field::kAttrType, kAttrInt);
      } else if (a.kind == Attr::Float) {
        w.fixed32(field::kAttrF, a.f).varint(field::kAttrType, kAttrFloat);
      } else {
        for (std::int64_t v : a.ints) w.varint(field::kAttrInts, v);
        w.varint(field::kAttrType, kAttrIntList);
      }
      n.message(field::kNodeAttribute, w);
    }
    graph_.message(field::kGraphNode, n);
    return out;
  }

  std::string conv(const std::string& prefix, const Conv2d& c, const std::string& x) {
    const auto& s = c.spec();
    std::vector<std::string> in{x, weight(prefix + ".weight", c.weight)};
    if (c.bias.defined()) in.push_back(weight(prefix + ".bias", c.bias));
    return node("Conv", in, prefix,
                {ints("kernel_shape", {s.kernel_size, s.kernel_size}), ints("strides", {s.stride, s.stride}),
                 ints("pads", {s.padding, s.padding, s.padding, s.padding}),
                 ints("dilations", {s.dilation, s.dilation}), integer("group", s.groups)});
  }

  // Inference form: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias.
  std::string batch_norm(const std::string& prefix, const BatchNorm2d& bn, const std::string& x) {
    return node("BatchNormalization",
                {x, weight(prefix + ".weight", bn.weight), weight(prefix + ".bias", bn.bias),
                 weight(prefix + ".running_mean", bn.running_mean), weight(prefix + ".running_var", bn.running_var)},
                prefix, {real("epsilon", static_cast<float>(bn.eps))});
  }

  std::string block(const std::string& p, const BasicBlock& b, const std::string& x) {
    std::string h = node("Relu", {batch_norm(p + ".bn1", *b.bn1, conv(p + ".conv1", *b.conv1, x))}, p + ".relu1");
    h = batch_norm(p + ".bn2", *b.bn2, conv(p + ".conv2", *b.conv2, h));
    std::string identity = x;
    if (b.downsample) {
      const auto& ds = *b.downsample;
      const auto* c = dynamic_cast<const Conv2d*>(ds[0].get());
      const auto* n = dynamic_cast<const BatchNorm2d*>(ds[1].get());
      MINIDL_CHECK(c && n && ds.size() == 2, "export_onnx: ", p, ".downsample is not Conv2d + BatchNorm2d");
      identity = batch_norm(p + ".downsample.1", *n, conv(p + ".downsample.0", *c, x));
    }
    return node("Relu", {node("Add", {h, identity}, p + ".add")}, p + ".relu2");
  }

  std::string stage(const std::string& name, const Sequential& s, std::string x) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto* b = dynamic_cast<const BasicBlock*>(s[i].get());
      MINIDL_CHECK(b, "export_onnx: ", name, ".", i, " is not a BasicBlock");
      x = block(name + "." + std::to_string(i), *b, x);
    }
    return x;
  }

  protobuf::Writer& graph() { return graph_; }

 private:
  protobuf::Writer graph_;
};

// ValueInfoProto of a float tensor; a dimension < 0 is dynamic, named `dynamic_name`.
protobuf::Writer tensor_value(const std::string& name, const std::vector<std::int64_t>& dims, const std::string& dynamic_name) {
  protobuf::Writer shape;
  for (std::int64_t d : dims) {
    protobuf::Writer dim;
    if (d < 0)
      dim.bytes(field::kDimParam, dynamic_name);
    else
      dim.varint(field::kDimValue, d);
    shape.message(field::kShapeDim, dim);
  }
  protobuf::Writer tensor;
  tensor.varint(field::kTensorElemType, kFloat).message(field::kTensorShape, shape);
  protobuf::Writer type;
  type.message(field::kTypeTensor, tensor);
  protobuf::Writer v;
  v.bytes(field::kValueName, name).message(field::kValueType, type);
  return v;
}

}  // namespace

std::string onnx_model_bytes(const ResNet& model, const OnnxExportOptions& o) {
  MINIDL_CHECK(o.input_height > 0 && o.input_width > 0, "export_onnx: input size must be positive, got ", o.input_height,
               "x", o.input_width);
  MINIDL_CHECK(o.opset >= 15 && o.opset <= 21, "export_onnx: opset ", o.opset,
               " is not supported (15 to 21: BatchNormalization-15 and the other operators are unchanged there)");
  const ResNetOptions& ro = model.options();
  GraphBuilder g;
  std::string x = "input";
  x = g.node("Relu", {g.batch_norm("bn1", *model.bn1, g.conv("conv1", *model.conv1, x))}, "relu");
  x = g.node("MaxPool", {x}, "maxpool", {ints("kernel_shape", {3, 3}), ints("strides", {2, 2}), ints("pads", {1, 1, 1, 1})});
  x = g.stage("layer1", *model.layer1, x);
  x = g.stage("layer2", *model.layer2, x);
  x = g.stage("layer3", *model.layer3, x);
  x = g.stage("layer4", *model.layer4, x);
  x = g.node("Flatten", {g.node("GlobalAveragePool", {x}, "avgpool")}, "flatten", {integer("axis", 1)});
  g.node("Gemm", {x, g.weight("fc.weight", model.fc->weight), g.weight("fc.bias", model.fc->bias)}, "logits",
         {real("alpha", 1.f), real("beta", 1.f), integer("transA", 0), integer("transB", 1)});
  g.graph().bytes(field::kGraphName, o.graph_name);
  g.graph().message(field::kGraphInput, tensor_value("input", {-1, ro.in_channels, o.input_height, o.input_width}, "batch"));
  g.graph().message(field::kGraphOutput, tensor_value("logits", {-1, ro.num_classes}, "batch"));

  protobuf::Writer m;
  m.varint(field::kModelIrVersion, kIrVersion);
  m.bytes(field::kModelProducerName, "minidl").bytes(field::kModelProducerVersion, MINIDL_VERSION);
  if (!o.doc_string.empty()) m.bytes(field::kModelDocString, o.doc_string);
  m.message(field::kModelGraph, g.graph());
  protobuf::Writer opset;
  opset.bytes(field::kOpsetDomain, "").varint(field::kOpsetVersion, o.opset);
  m.message(field::kModelOpsetImport, opset);
  for (const auto& [k, v] : o.metadata) {
    protobuf::Writer e;
    e.bytes(field::kEntryKey, k).bytes(field::kEntryValue, v);
    m.message(field::kModelMetadataProps, e);
  }
  return m.str();
}

void export_onnx(const ResNet& model, const std::string& path, const OnnxExportOptions& options) {
  const std::string bytes = onnx_model_bytes(model, options);
  write_file_atomic(path, bytes.data(), bytes.size(), "export_onnx");
}

}  // namespace minidl
