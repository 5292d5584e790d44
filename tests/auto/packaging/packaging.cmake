# Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#
# Builds QtKeepAlive the ways its users do and runs a small consumer each
# time. Run by ctest (see CMakeLists.txt next to this file):
#
#   cmake -DMODE=<mode> -DSOURCE_DIR=<source tree> -DWORK_DIR=<scratch dir>
#         [-DGENERATOR=...] [-DCXX_COMPILER=...] [-DBUILD_TYPE=...]
#         [-DQT6_DIR=...] [-DWERROR=ON] [-DQMAKE=...] [-DMAKE=...] [-DPKG_CONFIG=...]
#         [-DTOOLCHAIN_FILE=... -DEMULATOR=... -DWINE_DLL_DIRS=dir|dir...]
#         [-DQT_CONF=... -DTARGET_SPEC=... -DCROSS_CXX=...]
#         -P packaging.cmake
#
# With TOOLCHAIN_FILE (a cross build for Windows) everything is built with
# that toolchain and the consumer runs under EMULATOR (Wine), with the DLLs
# it needs copied next to it, as a Windows user deploys them: the installed
# library's, then those in WINE_DLL_DIRS (Qt, the MinGW-w64 runtime).
#
# MODE:
#   installed  shared library, cmake --install into a prefix, find_package() consumer
#   static     the same with BUILD_SHARED_LIBS=OFF
#   pkgconfig  shared library, cmake --install into a prefix, the installed
#              QtKeepAlive.pc checked with PKG_CONFIG --validate, a consumer
#              compiled by CXX_COMPILER with `PKG_CONFIG --cflags --libs` only
#   subdir     a consumer that add_subdirectory()s the source tree
#   qmake      a qmake6 consumer that include()s qt_keepalive.pri; cross-built
#              with QT_CONF (the target Qt's target_qt.conf), TARGET_SPEC (its
#              qmake spec) and CROSS_CXX (the cross g++)
#
# Every step's output is shown; the first failing step fails the test.

cmake_minimum_required(VERSION 3.21)

foreach(variable MODE SOURCE_DIR WORK_DIR)
    if(NOT ${variable})
        message(FATAL_ERROR "packaging.cmake: -D${variable}=... is required")
    endif()
endforeach()
if(NOT BUILD_TYPE)
    set(BUILD_TYPE Release)
endif()
if(NOT WERROR)
    set(WERROR OFF)
endif()

set(consumers "${SOURCE_DIR}/tests/auto/packaging")
cmake_host_system_information(RESULT jobs QUERY NUMBER_OF_LOGICAL_CORES)

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(step description)
    message(STATUS "==> ${description}")
    execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "FAILED (${result}): ${description}\n  command: ${ARGN}")
    endif()
endfunction()

# Arguments every CMake configure step shares: same generator, compiler and
# Qt as the enclosing build.
set(configure_arguments "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
if(GENERATOR)
    list(APPEND configure_arguments -G "${GENERATOR}")
endif()
if(TOOLCHAIN_FILE)
    list(APPEND configure_arguments "-DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN_FILE}")
elseif(CXX_COMPILER)
    list(APPEND configure_arguments "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(QT6_DIR)
    list(APPEND configure_arguments "-DQt6_DIR=${QT6_DIR}")
endif()

function(build_and_install_library variant)
    set(build "${WORK_DIR}/library-build")
    set(prefix "${WORK_DIR}/prefix")
    step("configure QtKeepAlive (${variant})"
         "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${build}" ${configure_arguments}
         # Installed elsewhere with --prefix, as the README shows: the package
         # (the CMake files and the .pc) must follow the prefix given there.
         "-DCMAKE_INSTALL_PREFIX=${WORK_DIR}/configured-prefix"
         "-DBUILD_SHARED_LIBS=${ARGN}" "-DQTKEEPALIVE_WERROR=${WERROR}"
         -DQTKEEPALIVE_BUILD_TESTS=OFF -DQTKEEPALIVE_BUILD_EXAMPLES=OFF
         -DQTKEEPALIVE_BUILD_BENCHMARKS=OFF)
    step("build QtKeepAlive (${variant})"
         "${CMAKE_COMMAND}" --build "${build}" --config "${BUILD_TYPE}" --parallel ${jobs})
    step("install QtKeepAlive (${variant})"
         "${CMAKE_COMMAND}" --install "${build}" --config "${BUILD_TYPE}" --prefix "${prefix}")
    set(prefix "${prefix}" PARENT_SCOPE)
endfunction()

# What an installed package must (and must not) contain.
function(check_installed_layout prefix)
    foreach(header keepalivesocket.h keepaliveoptions.h connectionhealth.h qtkeepalive_global.h
                   KeepAliveSocket KeepAliveOptions ConnectionHealth)
        if(NOT EXISTS "${prefix}/include/QtKeepAlive/${header}")
            message(FATAL_ERROR "installed package lacks include/QtKeepAlive/${header}")
        endif()
    endforeach()
    file(GLOB_RECURSE private_headers "${prefix}/*_p.h")
    if(private_headers)
        message(FATAL_ERROR "private headers were installed: ${private_headers}")
    endif()
    file(GLOB_RECURSE config_files "${prefix}/*/QtKeepAliveConfig.cmake"
         "${prefix}/*/QtKeepAliveConfigVersion.cmake" "${prefix}/*/QtKeepAliveTargets.cmake")
    list(LENGTH config_files count)
    if(NOT count EQUAL 3)
        message(FATAL_ERROR "installed CMake package files incomplete: ${config_files}")
    endif()
    file(GLOB_RECURSE pc_file "${prefix}/*/pkgconfig/QtKeepAlive.pc")
    if(NOT pc_file)
        message(FATAL_ERROR "installed package lacks pkgconfig/QtKeepAlive.pc")
    endif()
    set(pc_file "${pc_file}" PARENT_SCOPE)
endfunction()

function(build_and_run_cmake_consumer source_dir)
    set(build "${WORK_DIR}/consumer-build")
    step("configure the consumer" "${CMAKE_COMMAND}" -S "${source_dir}" -B "${build}"
         ${configure_arguments} ${ARGN})
    step("build the consumer"
         "${CMAKE_COMMAND}" --build "${build}" --config "${BUILD_TYPE}" --parallel ${jobs})
    file(GLOB_RECURSE executables "${build}/consumer" "${build}/consumer.exe")
    list(FILTER executables EXCLUDE REGEX "/CMakeFiles/")
    if(NOT executables)
        message(FATAL_ERROR "the consumer executable was not built")
    endif()
    list(GET executables 0 executable)
    run_consumer("${executable}")
endfunction()

function(run_consumer executable)
    # An installed shared library outside the system paths is found the way
    # users find it: through the loader's search path.
    set(library_dirs "${WORK_DIR}/prefix/lib" "${WORK_DIR}/prefix/lib64" "${WORK_DIR}/prefix/bin")
    if(EMULATOR)
        string(REPLACE "|" ";" dll_dirs "${WINE_DLL_DIRS}")
        get_filename_component(executable_dir "${executable}" DIRECTORY)
        foreach(directory IN LISTS library_dirs dll_dirs)
            file(GLOB dlls "${directory}/*.dll")
            if(dlls)
                file(COPY ${dlls} DESTINATION "${executable_dir}")
            endif()
        endforeach()
        step("run ${executable} under ${EMULATOR}"
             "${CMAKE_COMMAND}" -E env WINEDEBUG=-all "${EMULATOR}" "${executable}")
        return()
    elseif(CMAKE_HOST_WIN32)
        list(APPEND library_dirs "$ENV{PATH}")
        string(REPLACE ";" "\\;" path_value "${library_dirs}")
        set(environment "PATH=${path_value}")
    else()
        if(DEFINED ENV{LD_LIBRARY_PATH} AND NOT "$ENV{LD_LIBRARY_PATH}" STREQUAL "")
            list(APPEND library_dirs "$ENV{LD_LIBRARY_PATH}")
        endif()
        string(REPLACE ";" ":" path_value "${library_dirs}")
        set(environment "LD_LIBRARY_PATH=${path_value}")
    endif()
    step("run ${executable}" "${CMAKE_COMMAND}" -E env "${environment}" "${executable}")
endfunction()

if(MODE STREQUAL "installed" OR MODE STREQUAL "static")
    if(MODE STREQUAL "installed")
        build_and_install_library("shared" ON)
    else()
        build_and_install_library("static" OFF)
        file(GLOB_RECURSE shared_objects "${prefix}/*QtKeepAlive*.so*" "${prefix}/*QtKeepAlive*.dll")
        if(shared_objects)
            message(FATAL_ERROR "a static build installed shared libraries: ${shared_objects}")
        endif()
    endif()
    check_installed_layout("${prefix}")
    # pkg-config users get QTKEEPALIVE_STATIC exactly when CMake users do.
    file(STRINGS "${pc_file}" cflags REGEX "^Cflags:")
    if(MODE STREQUAL "static" AND NOT cflags MATCHES " -DQTKEEPALIVE_STATIC( |$)")
        message(FATAL_ERROR "QtKeepAlive.pc of a static build lacks -DQTKEEPALIVE_STATIC: ${cflags}")
    elseif(MODE STREQUAL "installed" AND cflags MATCHES "QTKEEPALIVE_STATIC")
        message(FATAL_ERROR "QtKeepAlive.pc of a shared build defines QTKEEPALIVE_STATIC: ${cflags}")
    endif()
    set(package_location "-DCMAKE_PREFIX_PATH=${prefix}")
    if(TOOLCHAIN_FILE)
        # A cross toolchain re-roots CMAKE_PREFIX_PATH under its find root
        # (Qt's MinGW one does): a cross user names the package directory.
        set(package_location "-DQtKeepAlive_DIR=${prefix}/lib/cmake/QtKeepAlive")
    endif()
    build_and_run_cmake_consumer("${consumers}/cmake-consumer" "${package_location}")
elseif(MODE STREQUAL "pkgconfig")
    foreach(tool PKG_CONFIG CXX_COMPILER)
        if(NOT ${tool})
            message(FATAL_ERROR "packaging.cmake: -D${tool}=... is required for MODE pkgconfig")
        endif()
    endforeach()
    build_and_install_library("shared" ON)
    check_installed_layout("${prefix}")
    # The installed .pc first, then the .pc files of the Qt the library was
    # built with (Requires: Qt6Core Qt6Network), then the user's.
    get_filename_component(pc_dir "${pc_file}" DIRECTORY)
    set(pc_path "${pc_dir}")
    if(QT6_DIR AND EXISTS "${QT6_DIR}/../../pkgconfig/Qt6Core.pc")
        get_filename_component(qt_pc_dir "${QT6_DIR}/../../pkgconfig" ABSOLUTE)
        list(APPEND pc_path "${qt_pc_dir}")
    endif()
    if(NOT "$ENV{PKG_CONFIG_PATH}" STREQUAL "")
        list(APPEND pc_path "$ENV{PKG_CONFIG_PATH}")
    endif()
    string(REPLACE ";" ":" pc_path "${pc_path}")
    set(ENV{PKG_CONFIG_PATH} "${pc_path}")
    message(STATUS "PKG_CONFIG_PATH=${pc_path}")

    step("pkg-config --validate QtKeepAlive" "${PKG_CONFIG}" --validate QtKeepAlive)
    file(STRINGS "${SOURCE_DIR}/VERSION" expected_version LIMIT_COUNT 1)
    execute_process(COMMAND "${PKG_CONFIG}" --modversion QtKeepAlive
                    OUTPUT_VARIABLE version OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT version STREQUAL expected_version)
        message(FATAL_ERROR "pkg-config --modversion QtKeepAlive: '${version}', "
                            "VERSION says '${expected_version}'")
    endif()
    execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs QtKeepAlive
                    OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "FAILED (${result}): pkg-config --cflags --libs QtKeepAlive")
    endif()
    message(STATUS "pkg-config --cflags --libs QtKeepAlive: ${flags}")
    separate_arguments(flags UNIX_COMMAND "${flags}")
    # A Makefile's command line: the compiler's defaults, the language
    # standard, and nothing but what pkg-config gives.
    step("build the consumer with pkg-config's flags"
         "${CXX_COMPILER}" -std=c++17 "${consumers}/consumer.cpp" ${flags} -o consumer)
    run_consumer("${WORK_DIR}/consumer")
elseif(MODE STREQUAL "subdir")
    build_and_run_cmake_consumer("${consumers}/subdir-consumer"
                                 "-DQTKEEPALIVE_SOURCE_DIR=${SOURCE_DIR}"
                                 "-DQTKEEPALIVE_WERROR=${WERROR}")
elseif(MODE STREQUAL "qmake")
    foreach(tool QMAKE MAKE)
        if(NOT ${tool})
            message(FATAL_ERROR "packaging.cmake: -D${tool}=... is required for MODE qmake")
        endif()
    endforeach()
    set(qmake_arguments)
    if(WERROR)
        # Our code only: Qt's headers are system headers (GCC and clang ignore
        # an -I for a directory also given with -isystem), as CMake makes
        # them for imported targets. GCC 16 warns inside qchar.h.
        list(APPEND qmake_arguments
             "QMAKE_CXXFLAGS += -Werror -isystem $$[QT_INSTALL_HEADERS] -isystem $$[QT_INSTALL_HEADERS]/QtCore -isystem $$[QT_INSTALL_HEADERS]/QtNetwork")
    endif()
    if(QT_CONF)
        # Cross-building (see CMakeLists.txt): a spec of our own that sets
        # the cross compilers, then reads TARGET_SPEC's.
        get_filename_component(compiler_name "${CROSS_CXX}" NAME)
        if(NOT compiler_name MATCHES "^(.*-)g\\+\\+(.*)$")
            message(FATAL_ERROR "packaging.cmake: CROSS_CXX ${CROSS_CXX} is not a GNU cross g++")
        endif()
        set(cross_compile "${CMAKE_MATCH_1}")
        string(REGEX REPLACE "g\\+\\+([^/]*)$" "gcc\\1" cross_cc "${CROSS_CXX}")
        set(spec "${WORK_DIR}/spec/cross-g++")
        file(WRITE "${spec}/qmake.conf"
             "CROSS_COMPILE = ${cross_compile}\n"
             "include(${TARGET_SPEC}/qmake.conf)\n"
             "QMAKE_CC = ${cross_cc}\nQMAKE_LINK_C = ${cross_cc}\n"
             "QMAKE_CXX = ${CROSS_CXX}\nQMAKE_LINK = ${CROSS_CXX}\n")
        file(WRITE "${spec}/qplatformdefs.h" "#include \"${TARGET_SPEC}/qplatformdefs.h\"\n")
        list(PREPEND qmake_arguments -qtconf "${QT_CONF}" -spec "${spec}")
    endif()
    step("qmake the consumer" "${QMAKE}" ${qmake_arguments}
         "${consumers}/qmake-consumer/consumer.pro")
    step("build the consumer" "${MAKE}" -j${jobs})
    if(EXISTS "${WORK_DIR}/consumer")
        run_consumer("${WORK_DIR}/consumer")
    elseif(EXISTS "${WORK_DIR}/release/consumer.exe")
        run_consumer("${WORK_DIR}/release/consumer.exe")
    else()
        message(FATAL_ERROR "qmake did not produce the consumer executable")
    endif()
else()
    message(FATAL_ERROR "packaging.cmake: unknown MODE '${MODE}'")
endif()

message(STATUS "packaging (${MODE}): OK")
