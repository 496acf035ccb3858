// A temporary directory (mkdtemp), removed with everything in it at the end of the test.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <stdlib.h>
#include <string>

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "vbdctl-test-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};
