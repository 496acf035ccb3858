# What ships besides the targets: the vbdctl(8) man page (scdoc) and the bash and zsh
# completions. Included from the top-level CMakeLists.txt once the targets exist.
# Install components: `runtime` (the library, the man page, the completions; the tool's own
# install() is `Unspecified`) and `dev` (headers, libvbdctl.so, libvbdctl.pc, the CMake
# package). The Debian packages are built with debhelper from cmake/debian/ by
# scripts/build-deb.

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
