#include "json_out.hpp"

namespace vbdcli {

void put_nested(std::string& out, const nlohmann::json& v, size_t depth) {
    // What dump() itself does with a starting indent of 0: nlohmann's serializer (3.x) takes
    // the starting indent and writes straight into out.
    nlohmann::detail::serializer<nlohmann::json> s(nlohmann::detail::output_adapter<char>(out), ' ',
                                                   nlohmann::json::error_handler_t::strict);
    s.dump(v, true, false, 2, static_cast<unsigned>(2 * depth));
}

void JsonText::end() {
    if (first_) {
        out_ += '}';
        return;
    }
    out_ += '\n';
    indent(depth_);
    out_ += '}';
}

void JsonText::key(std::string_view k) {
    out_ += first_ ? "\n" : ",\n";
    first_ = false;
    indent(depth_ + 1);
    out_ += '"'; // keys are the schema's own names: nothing to escape
    out_ += k;
    out_ += "\": ";
}

void JsonText::member(std::string_view k, std::string_view v) {
    key(k);
    string(v);
}

void JsonText::member(std::string_view k, bool v) {
    key(k);
    out_ += v ? "true" : "false";
}

void JsonText::member(std::string_view k, std::nullptr_t) {
    key(k);
    out_ += "null";
}

void JsonText::string(std::string_view s) {
    // Most strings need no escape and go out whole. dump()'s escapes for the rest of ASCII;
    // other bytes go to nlohmann itself, which checks the UTF-8 (and throws on what is not,
    // as print_json would).
    bool plain = true;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x80) {
            put_nested(out_, nlohmann::json(std::string(s)), 0);
            return;
        }
        plain = plain && u >= 0x20 && c != '"' && c != '\\';
    }
    out_ += '"';
    if (plain) {
        out_ += s;
        out_ += '"';
        return;
    }
    for (char c : s) {
        switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\b': out_ += "\\b"; break;
        case '\f': out_ += "\\f"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                static constexpr char hex[] = "0123456789abcdef";
                out_ += "\\u00";
                out_ += hex[(c >> 4) & 0xf];
                out_ += hex[c & 0xf];
            } else {
                out_ += c;
            }
        }
    }
    out_ += '"';
}

} // namespace vbdcli
