# What ships besides the targets: the vbdctl(8) man page (scdoc), the bash and zsh
# completions, and Debian packages built with CPack (`cpack -G DEB` in the build directory).
# Included from the top-level CMakeLists.txt once the targets exist.
#
# (CPack uses CPACK_PACKAGE_DESCRIPTION_SUMMARY as every package's synopsis line.)
# Install components: `runtime` (and `Unspecified`, which is what the tool's own install()
# uses) become the `vbdctl` package; `dev` (headers, libvbdctl.so, libvbdctl.pc, the CMake
# package) becomes `libvbdctl-dev`.

# ---------------------------------------------------------------------------- man page
find_program(SCDOC_EXECUTABLE scdoc)
set(VBDCTL_MAN_SOURCE ${PROJECT_SOURCE_DIR}/man/vbdctl.8.scd)
if(SCDOC_EXECUTABLE)
  set(VBDCTL_MAN_PAGE ${PROJECT_BINARY_DIR}/man/vbdctl.8)
  # scdoc filters stdin to stdout; do not leave a truncated page behind when it fails.
  add_custom_command(OUTPUT ${VBDCTL_MAN_PAGE}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND sh -c "\"$0\" < \"$1\" > \"$2\" || { rm -f \"$2\"; exit 1; }"
            ${SCDOC_EXECUTABLE} ${VBDCTL_MAN_SOURCE} ${VBDCTL_MAN_PAGE}
    DEPENDS ${VBDCTL_MAN_SOURCE}
    COMMENT "Generating vbdctl.8 with scdoc"
    VERBATIM)
  add_custom_target(vbdctl_man ALL DEPENDS ${VBDCTL_MAN_PAGE})
  install(FILES ${VBDCTL_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT runtime)
else()
  message(STATUS "scdoc not found: the vbdctl(8) man page will not be built or installed")
endif()

# ---------------------------------------------------------------------------- completions
# bash-completion's own completionsdir, made relative to its prefix so that it follows ours
# (bash-completion also searches $XDG_DATA_DIRS, which holds /usr/local/share).
set(VBDCTL_BASH_COMPLETION_DIR "" CACHE STRING
    "Where to install the bash completion (default: bash-completion's completionsdir, else share/bash-completion/completions)")
set(VBDCTL_ZSH_COMPLETION_DIR "${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions" CACHE STRING
    "Where to install the zsh completion")
set(bash_completion_dir "${VBDCTL_BASH_COMPLETION_DIR}")
if(NOT bash_completion_dir)
  set(bash_completion_dir "${CMAKE_INSTALL_DATADIR}/bash-completion/completions")
  pkg_get_variable(bashcomp_completionsdir bash-completion completionsdir)
  pkg_get_variable(bashcomp_prefix bash-completion prefix)
  if(bashcomp_completionsdir AND bashcomp_prefix)
    string(LENGTH "${bashcomp_prefix}/" prefix_len)
    string(SUBSTRING "${bashcomp_completionsdir}" 0 ${prefix_len} head)
    if(head STREQUAL "${bashcomp_prefix}/")
      string(SUBSTRING "${bashcomp_completionsdir}" ${prefix_len} -1 bash_completion_dir)
    endif()
  endif()
endif()
install(FILES ${PROJECT_SOURCE_DIR}/completions/vbdctl.bash
        DESTINATION ${bash_completion_dir} RENAME vbdctl COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/completions/_vbdctl
        DESTINATION ${VBDCTL_ZSH_COMPLETION_DIR} COMPONENT runtime)

# ---------------------------------------------------------------------------- CPack (DEB)
set(CPACK_PACKAGE_NAME vbdctl)
set(CPACK_PACKAGE_VENDOR "vbdctl")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "vbdctl maintainers <maintainers@users.noreply.r-seed-11890494.example>")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/")

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL Unspecified runtime dev)
set(CPACK_COMPONENTS_GROUPING ONE_PER_GROUP)
set(CPACK_COMPONENT_UNSPECIFIED_GROUP main)
set(CPACK_COMPONENT_RUNTIME_GROUP main)
set(CPACK_COMPONENT_DEV_GROUP dev)
string(CONCAT CPACK_DEBIAN_MAIN_DESCRIPTION
    "vbdctl lists, checks and watches the vbds a Xen backend domain serves and reloads\n"
    "xen-blkback under running guests with preflight checks, a journal and rollback.")
string(CONCAT CPACK_DEBIAN_DEV_DESCRIPTION
    "Development files for libvbdctl, the library behind vbdctl: C++23 headers,\n"
    "libvbdctl.pc and the vbdctl CMake package (vbdctl::vbdctl).")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_MAIN_PACKAGE_NAME vbdctl)
set(CPACK_DEBIAN_MAIN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libvbdctl-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(vbdctl_deb_version "${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}")
# libvbdctl.pc names the Xen and kmod .pc files in Requires.private: pkg-config needs them.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "vbdctl (= ${vbdctl_deb_version}), libxen-dev, libkmod-dev")
# vbdctl ships libvbdctl.so.N: publish a shlibs file for it (also adds the ldconfig trigger).
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
find_program(DPKG_SHLIBDEPS_EXECUTABLE dpkg-shlibdeps)
if(DPKG_SHLIBDEPS_EXECUTABLE)
  set(CPACK_DEBIAN_MAIN_PACKAGE_SHLIBDEPS ON)
  # The tool links the libvbdctl.so.N it ships with; let dpkg-shlibdeps find it there.
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS
      ${PROJECT_BINARY_DIR}/libvbdctl)
else()
  # Debian 12 (Xen 4.17): libxenlight lives in libxenmisc4.17.
  set(CPACK_DEBIAN_MAIN_PACKAGE_DEPENDS
      "libc6, libstdc++6, libgcc-s1, libxenstore4, libxenmisc4.17, libxengnttab1, libxentoollog1, libkmod2")
endif()

include(CPack)
