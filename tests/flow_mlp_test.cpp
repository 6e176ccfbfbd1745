// Tests of examples/flow_mlp/flow_mlp.hpp (example code): the weight file loader (round trip, every kind
// of bad file → stork::error naming the problem) and the committed trained weights.
#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>
#include <string>

#include "flow_mlp/flow_mlp.hpp"

namespace {

const std::filesystem::path committed =
    std::filesystem::path(__FILE__).parent_path().parent_path() / "examples" / "flow_mlp" / "weights.txt";

std::string saved(const flow_mlp::model& m) {
  std::ostringstream os;
  m.save(os);
  return os.str();
}

flow_mlp::model load_text(const std::string& text) {
  std::istringstream is(text);
  return flow_mlp::model::load(is, "test.txt");
}

/// A small valid file: 2 frequencies (6 inputs), hidden 3, output 2.
std::string small_file() { return saved(flow_mlp::random_model(2, {3}, 5)); }

std::string replace_first(std::string s, const std::string& from, const std::string& to) {
  const std::size_t p = s.find(from);
  REQUIRE(p != std::string::npos);
  return s.replace(p, from.size(), to);
}

}  // namespace

TEST_CASE("flow_mlp: save/load round trip", "[flow_mlp]") {
  const flow_mlp::model m = flow_mlp::random_model(4, {8, 8}, 3);
  const flow_mlp::model once = load_text(saved(m));
  const flow_mlp::model twice = load_text(saved(once));
  REQUIRE(once.frequencies() == 4);
  REQUIRE(once.layers().size() == 3);
  REQUIRE(once.parameter_count() == m.parameter_count());
  for (std::size_t k = 0; k < 3; ++k) {
    // 9 significant digits: within float precision of the saved doubles, and exact from then on.
    CHECK((once.layers()[k].w - m.layers()[k].w).cwiseAbs().maxCoeff() <= 1e-8);
    CHECK(once.layers()[k].w == twice.layers()[k].w);
    CHECK(once.layers()[k].b == twice.layers()[k].b);
  }
  const Eigen::MatrixXd x = flow_mlp::two_moons(16, 9);
  Eigen::MatrixXd v1(2, 16), v2(2, 16);
  m(x, 0.3, v1);
  once(x, 0.3, v2);
  CHECK((v1 - v2).cwiseAbs().maxCoeff() <= 1e-6);
}

TEST_CASE("flow_mlp: the committed trained weights", "[flow_mlp]") {
  const flow_mlp::model m = flow_mlp::model::load(committed);
  REQUIRE(m.layers().front().w.cols() == flow_mlp::model::input_dim(m.frequencies()));
  REQUIRE(m.layers().back().w.rows() == 2);
  // At σ = 1 the point is pure noise, independent of the data, so the exact flow-matching velocity is
  // E[ε − x₀ | x] = x − E[x₀] = x (the two moons are centred: E[x₀] = (½ − ½, (2/π + ½ − 2/π)/2 − ¼) = 0).
  // A trained network must have learned it; an untrained or wrongly loaded one has not.
  Eigen::MatrixXd x(2, 5), v(2, 5);
  x << -1.5, -0.5, 0.0, 0.7, 1.4,  //
      0.8, -1.0, 0.0, 0.4, -0.6;
  m(x, 1.0, v);
  INFO("v(x, 1) =\n" << v << "\nexpected x =\n" << x);
  CHECK((v - x).cwiseAbs().maxCoeff() < 0.1);
  // The data's mean is indeed 0 (the formula above), up to sampling error.
  CHECK(flow_mlp::two_moons(20000, 1).rowwise().mean().cwiseAbs().maxCoeff() < 0.02);
}

TEST_CASE("flow_mlp: loader errors name the file, the line and the problem", "[flow_mlp]") {
  using Catch::Matchers::Contains;
  const std::string good = small_file();
  REQUIRE_NOTHROW(load_text(good));

  SECTION("missing file") {
    REQUIRE_THROWS_MATCHES(
        flow_mlp::model::load(std::filesystem::path("/nonexistent/w.txt")), stork::error,
        Catch::Matchers::Message(
            "stork: flow_mlp::load: file = '/nonexistent/w.txt' is invalid (cannot open it)"));
  }
  SECTION("not a weight file") {
    REQUIRE_THROWS_AS(load_text("cmake_minimum_required(VERSION 3.25)\n"), stork::error);
    REQUIRE_THROWS_WITH(load_text("cmake_minimum_required(VERSION 3.25)\n"),
                        Contains("test.txt: line 1") && Contains("not a stork-flow-mlp weight file"));
    REQUIRE_THROWS_WITH(load_text(replace_first(good, "v1", "v2")), Contains("unsupported version"));
    REQUIRE_THROWS_WITH(load_text(replace_first(good, "silu", "relu")),
                        Contains("unsupported activation 'relu'"));
    REQUIRE_THROWS_WITH(load_text(replace_first(good, "frequencies 2", "frequencies two")),
                        Contains("frequencies = 'two' is not an integer"));
  }
  SECTION("empty and truncated files") {
    REQUIRE_THROWS_WITH(load_text(""), Contains("line 1: file truncated"));
    const std::size_t cut = good.find("bias 2");
    REQUIRE_THROWS_WITH(load_text(good.substr(0, cut)), Contains("file truncated: expected 'bias 2 2'"));
    const std::string half_line = good.substr(0, good.find('\n', good.find("weight 2")) + 8);
    REQUIRE_THROWS_WITH(load_text(half_line), Contains("row 1 of weight 2: expected 3 numbers, found") &&
                                                  Contains("(truncated line?)"));
  }
  SECTION("wrong shapes") {
    // 6 inputs are needed for 2 frequencies; the output must be 2-D; layers must chain.
    REQUIRE_THROWS_WITH(
        load_text(replace_first(good, "layers 2 6x3 3x2", "layers 2 7x3 3x2")),
        Contains("line 1: wrong shapes: layer 1 shape (in x out) = 7x3 is invalid (expected 6"));
    REQUIRE_THROWS_WITH(load_text(replace_first(good, "layers 2 6x3 3x2", "layers 2 6x3 3x4")),
                        Contains("wrong shapes: output size = 4 is invalid"));
    REQUIRE_THROWS_WITH(
        load_text(replace_first(good, "layers 2 6x3 3x2", "layers 2 6x3 4x2")),
        Contains("wrong shapes: layer 2 shape (in x out) = 4x2 is invalid (expected 3 inputs)"));
    REQUIRE_THROWS_WITH(load_text(replace_first(good, "layers 2 6x3 3x2", "layers 2 6x3")),
                        Contains("expected 2 shapes, found 1"));
    // The header and the body disagree.
    REQUIRE_THROWS_WITH(load_text(replace_first(good, "weight 1 3 6", "weight 1 3 5")),
                        Contains("line 2: expected 'weight 1 3 6', found 'weight 1 3 5'"));
    // A layer the model constructor rejects directly.
    flow_mlp::layer l1{Eigen::MatrixXd::Zero(3, 6), Eigen::VectorXd::Zero(3)};
    flow_mlp::layer l2{Eigen::MatrixXd::Zero(2, 4), Eigen::VectorXd::Zero(2)};
    REQUIRE_THROWS_AS(flow_mlp::model(2, {l1, l2}), stork::error);
  }
  SECTION("non-numeric and non-finite entries") {
    const std::size_t row = good.find('\n', good.find("weight 1")) + 1;  // first number of W1
    const std::size_t end = good.find(' ', row);
    auto with_first = [&](const std::string& tok) { return good.substr(0, row) + tok + good.substr(end); };
    REQUIRE_NOTHROW(load_text(with_first("0.25")));
    REQUIRE_THROWS_WITH(load_text(with_first("abc")),
                        Contains("line 3: row 1 of weight 1: entry 1 = 'abc' is not a number"));
    REQUIRE_THROWS_WITH(load_text(with_first("0.5x")), Contains("entry 1 = '0.5x' is not a number"));
    REQUIRE_THROWS_WITH(load_text(with_first("nan")), Contains("entry 1 = nan is not finite"));
    REQUIRE_THROWS_WITH(load_text(with_first("-inf")), Contains("entry 1 = -inf is not finite"));
    REQUIRE_THROWS_WITH(load_text(with_first("1e999")),
                        Contains("entry 1 = 1e999 is not finite (out of range)"));
  }
  SECTION("extra content") {
    REQUIRE_NOTHROW(load_text(good + "\n  \n"));
    REQUIRE_THROWS_WITH(load_text(good + "weight 3 2 2\n"),
                        Contains("unexpected content after the last layer"));
  }
}
