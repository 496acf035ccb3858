#pragma once
// The two places a command's JSON goes: a document (JsonDoc, over nlohmann::json) or text
// written as it is produced (JsonText), for output too long to build as a document first
// (list over thousands of vbds). A renderer written against both, members in sorted key
// order, prints the same text either way: JsonText writes exactly what print_json's
// dump(2) prints for the document, whose objects are sorted.

#include <charconv>
#include <concepts>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace vbdcli {

/// Appends v as dump(2) prints it `depth` levels down (its first line not indented).
void put_nested(std::string& out, const nlohmann::json& v, size_t depth);

/// Members of one JSON object in a document.
class JsonDoc {
  public:
    explicit JsonDoc(nlohmann::json& obj) : j_(obj) {}
    template <class T> void member(std::string_view key, const T& v) { j_[std::string(key)] = to_json(v); }
    /// An object member filled by f(JsonDoc&).
    template <class F> void object(std::string_view key, F f) {
        JsonDoc inner(j_[std::string(key)] = nlohmann::json::object());
        f(inner);
    }
    /// An array member of one object per item, each filled by f(JsonDoc&, item).
    template <class R, class F> void objects(std::string_view key, const R& items, F f) {
        auto& a = j_[std::string(key)] = nlohmann::json::array();
        for (const auto& item : items) {
            JsonDoc e(a.emplace_back(nlohmann::json::object()));
            f(e, item);
        }
    }

  private:
    template <class T> static nlohmann::json to_json(const std::optional<T>& v) {
        return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
    }
    template <class T> static nlohmann::json to_json(const T& v) { return nlohmann::json(v); }
    nlohmann::json& j_;
};

/// Members of one JSON object written straight into text, `depth` levels down. Members must
/// come in sorted key order, their keys plain names (nothing to escape). end() closes the
/// object.
class JsonText {
  public:
    JsonText(std::string& out, size_t depth) : out_(out), depth_(depth) { out_ += '{'; }
    void end();

    void member(std::string_view key, std::string_view v);
    void member(std::string_view key, const std::string& v) { member(key, std::string_view(v)); }
    void member(std::string_view key, const char* v) { member(key, std::string_view(v)); }
    void member(std::string_view key, bool v);
    void member(std::string_view key, std::nullptr_t);
    template <std::integral T> void member(std::string_view key, const T& v) {
        if constexpr (std::same_as<T, bool>) {
            member(key, static_cast<bool>(v));
        } else {
            this->key(key);
            char buf[24];
            out_.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
        }
    }
    template <class T> void member(std::string_view key, const std::optional<T>& v) {
        if (v) member(key, *v);
        else member(key, nullptr);
    }
    /// Anything else (arrays, maps): as a document value.
    template <class T> void member(std::string_view key, const T& v) {
        this->key(key);
        put_nested(out_, nlohmann::json(v), depth_ + 1);
    }
    template <class F> void object(std::string_view key, F f) {
        this->key(key);
        JsonText inner(out_, depth_ + 1);
        f(inner);
        inner.end();
    }
    template <class R, class F> void objects(std::string_view key, const R& items, F f) {
        this->key(key);
        size_t n = 0;
        for (const auto& item : items) {
            out_ += n++ ? ",\n" : "[\n";
            indent(depth_ + 2);
            JsonText e(out_, depth_ + 2);
            f(e, item);
            e.end();
        }
        if (!n) {
            out_ += "[]";
            return;
        }
        out_ += '\n';
        indent(depth_ + 1);
        out_ += ']';
    }

  private:
    void key(std::string_view k);
    void string(std::string_view s);
    void indent(size_t depth) { out_.append(2 * depth, ' '); }
    std::string& out_;
    size_t depth_;
    bool first_ = true;
};

} // namespace vbdcli
