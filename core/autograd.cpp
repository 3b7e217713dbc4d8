#include "minidl/core/autograd.h"

#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "minidl/core/ops.h"

namespace minidl {

namespace {
thread_local bool t_grad_enabled = true;
double g_fresh_grad_fill = std::numeric_limits<double>::quiet_NaN();

Tensor fresh_grad_buffer(const Tensor& like) {
  Tensor t = Tensor::empty_like(like);
  if (!std::isnan(g_fresh_grad_fill)) t.fill_(g_fresh_grad_fill);
  return t;
}

// Post-order DFS without recursion (ResNet graphs are shallow, but user graphs may not be).
std::vector<Node*> topological_order(Node* root) {
  std::vector<Node*> order;
  std::unordered_set<Node*> seen{root};
  std::vector<std::pair<Node*, std::size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      if (!in.defined() || !in.requires_grad()) continue;
      Node* child = in.grad_fn().get();
      if (child && seen.insert(child).second) stack.push_back({child, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  return {order.rbegin(), order.rend()};  // root first
}
}  // namespace

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool enabled) { t_grad_enabled = enabled; }
void set_fresh_grad_fill(double value) { g_fresh_grad_fill = value; }

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

Tensor record(Tensor out, std::shared_ptr<Node> fn, std::vector<Tensor> inputs) {
  bool needed = false;
  if (t_grad_enabled)
    for (const Tensor& t : inputs) needed = needed || (t.defined() && t.requires_grad());
  if (!needed) return out;
  fn->inputs = std::move(inputs);
  out.set_grad_fn(std::move(fn));
  return out;
}

void run_backward(const Tensor& root, const Tensor& grad_output) {
  MINIDL_CHECK(root.requires_grad(), "backward: the tensor ", root.str(),
               " does not require grad and has no grad_fn");
  Tensor gout = grad_output;
  if (!gout.defined()) {
    MINIDL_CHECK(root.numel() == 1, "backward: grad can be implied only for a one-element output, got ",
                 shape_str(root.shape()), "; pass grad_output");
    gout = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  MINIDL_CHECK(gout.shape() == root.shape(), "backward: grad_output ", shape_str(gout.shape()),
               " does not match the output ", shape_str(root.shape()));
  NoGradGuard no_grad;  // backward itself records nothing

  if (root.is_leaf()) {
    Tensor g = root.grad();
    if (g.defined()) add_(g, gout);
    else root.set_grad(gout.clone());
    if (root.has_post_accumulate_grad_hooks()) root.run_post_accumulate_grad_hooks();
    return;
  }

  const std::vector<Node*> order = topological_order(root.grad_fn().get());
  // Leaves with post-accumulate hooks: a leaf's gradient is final once the last node (in the
  // order below) that has it as an input has run, so its hooks run right then, while the nodes
  // nearer the graph's inputs are still to come (what lets DDP overlap its reduction).
  std::vector<std::vector<Tensor>> final_after(order.size());
  std::unordered_set<const TensorImpl*> written;  // leaves that received a gradient in this pass
  bool any_hooks = false;
  {
    std::unordered_map<const TensorImpl*, std::size_t> last_use;
    auto hooked = [](const Tensor& in) { return in.defined() && in.is_leaf() && in.has_post_accumulate_grad_hooks(); };
    for (std::size_t k = 0; k < order.size(); ++k)
      for (const Tensor& in : order[k]->inputs)
        if (hooked(in)) last_use[in.impl()] = k;
    // In graph order, so that hooks run in the same order in every process.
    for (std::size_t k = 0; k < order.size(); ++k)
      for (const Tensor& in : order[k]->inputs)
        if (hooked(in) && last_use[in.impl()] == k) {
          final_after[k].push_back(in);
          last_use[in.impl()] = order.size();  // once, even if the node takes it twice
        }
    any_hooks = !last_use.empty();
  }
  auto run_hooks_after = [&](std::size_t k) {
    for (const Tensor& leaf : final_after[k])
      if (written.count(leaf.impl())) leaf.run_post_accumulate_grad_hooks();
  };

  // Gradient waiting for each node (its output's gradient), filled by its consumers.
  std::unordered_map<Node*, Tensor> pending;
  pending[root.grad_fn().get()] = gout;
  for (std::size_t k = 0; k < order.size(); ++k) {
    Node* node = order[k];
    auto it = pending.find(node);
    if (it == pending.end()) {  // no gradient reached it (e.g. only through non-diff paths)
      run_hooks_after(k);
      continue;
    }
    Tensor g = std::move(it->second);
    pending.erase(it);

    std::vector<GradSlot> gin(node->inputs.size());
    // An input that appears twice in one node (add(x, x)) gets a private buffer the second
    // time, added into the first afterwards, so the two writes never alias.
    std::vector<std::pair<std::size_t, std::size_t>> repeats;  // (slot, first slot of same input)
    for (std::size_t i = 0; i < gin.size(); ++i) {
      const Tensor& in = node->inputs[i];
      if (!in.defined() || !in.requires_grad()) continue;
      gin[i].needed = true;
      for (std::size_t j = 0; j < i; ++j)
        if (gin[j].needed && node->inputs[j].is_same(in)) {
          repeats.push_back({i, j});
          break;
        }
      if (!repeats.empty() && repeats.back().first == i) {
        gin[i].grad = fresh_grad_buffer(in);
        continue;
      }
      Tensor existing = in.is_leaf() ? in.grad() : (pending.count(in.grad_fn().get()) ? pending[in.grad_fn().get()] : Tensor());
      gin[i].accumulate = existing.defined();
      gin[i].grad = existing.defined() ? existing : fresh_grad_buffer(in);
    }
    node->backward(g, gin);
    for (auto [i, j] : repeats) add_(gin[j].grad, gin[i].grad);
    for (std::size_t i = 0; i < gin.size(); ++i) {
      if (!gin[i].needed) continue;
      bool repeated = false;
      for (auto [r, first] : repeats) repeated = repeated || r == i;
      if (repeated) continue;
      const Tensor& in = node->inputs[i];
      if (in.is_leaf()) {
        in.set_grad(gin[i].grad);
        if (any_hooks) written.insert(in.impl());
      } else {
        pending[in.grad_fn().get()] = gin[i].grad;
      }
    }
    run_hooks_after(k);
  }
}

}  // namespace minidl
