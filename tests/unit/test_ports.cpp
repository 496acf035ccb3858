// The ports' shared behaviour: XenStore::read_many, as every adapter offers it.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sim_fixture.hpp"

namespace {

// A XenStore that has only the default read_many: it forwards the rest to another, counting
// reads.
class Forwarding final : public vbd::XenStore {
  public:
    explicit Forwarding(vbd::XenStore& to) : to_(to) {}
    vbd::Result<std::optional<std::string>> read(std::string_view p, vbd::Txn t) override {
        ++reads;
        return to_.read(p, t);
    }
    vbd::Result<std::optional<std::vector<std::string>>> directory(std::string_view p, vbd::Txn t) override {
        return to_.directory(p, t);
    }
    vbd::Result<void> write(std::string_view p, std::string_view v, vbd::Txn t) override { return to_.write(p, v, t); }
    vbd::Result<void> remove(std::string_view p, vbd::Txn t) override { return to_.remove(p, t); }
    vbd::Result<vbd::Txn> transaction_start() override { return to_.transaction_start(); }
    vbd::Result<bool> transaction_end(vbd::Txn t, bool abort) override { return to_.transaction_end(t, abort); }
    vbd::Result<void> watch(std::string_view p, std::string_view t) override { return to_.watch(p, t); }
    vbd::Result<void> unwatch(std::string_view p, std::string_view t) override { return to_.unwatch(p, t); }
    vbd::Result<std::optional<vbd::WatchEvent>> wait(vbd::Millis d) override { return to_.wait(d); }
    int reads = 0;

  private:
    vbd::XenStore& to_;
};

const std::string be = "/local/domain/0/backend/vbd/1/51712";
const std::vector<std::string_view> keys = {"state", "mode", "no-such-key", "frontend", "params", "feature-persistent"};

} // namespace

TEST_CASE("read_many answers as read does, in the order asked: the simulator's and the default") {
    SimWorld w(false);
    Forwarding plain(w.h->xenstore);
    for (vbd::XenStore* xs : {&w.h->xenstore, static_cast<vbd::XenStore*>(&plain)}) {
        auto many = xs->read_many(be, keys);
        REQUIRE(many);
        REQUIRE(many->size() == keys.size());
        for (size_t i = 0; i < keys.size(); ++i) {
            CAPTURE(keys[i]);
            auto one = w.h->xenstore.read(be + "/" + std::string(keys[i]));
            REQUIRE(one);
            CHECK((*many)[i] == *one);
        }
        CHECK((*many)[0] == "4");
        CHECK_FALSE((*many)[2]);
    }
    CHECK(plain.reads == static_cast<int>(keys.size())); // one request per node, as xenstored needs
    // A relative directory is the caller's domain's, as for read.
    auto rel = w.h->xenstore.read_many("backend/vbd/1/51712", keys);
    REQUIRE(rel);
    CHECK((*rel)[0] == "4");
}

TEST_CASE("read_many refuses what xenstored refuses, in the directory or in a key") {
    SimWorld w(false);
    Forwarding plain(w.h->xenstore);
    for (vbd::XenStore* xs : {&w.h->xenstore, static_cast<vbd::XenStore*>(&plain)}) {
        for (auto bad : {std::vector<std::string_view>{"state", "a b"}, {"state/"}, {"/state"}, {""}}) {
            auto r = xs->read_many(be, bad);
            REQUIRE_FALSE(r);
            CHECK(r.error().code == vbd::Errc::invalid_argument);
        }
        CHECK_FALSE(xs->read_many("/local//domain", keys));
    }
}
