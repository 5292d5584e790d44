# Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#
# qtkeepalive_add_module(<target>
#     EXPORT_NAME <name>            the target users link: QtKeepAlive::<name>
#     [TYPE SHARED|STATIC]          default: the project's library type
#     SOURCES <file>...             sources and private (_p.h) headers
#     [PUBLIC_HEADERS <file>...]    installed into include/QtKeepAlive
#     [INCLUDE_DIRECTORIES <dir>...] public include directories in the build tree
#     [LIBRARIES <target>...]       public dependencies
#     [PRIVATE_LIBRARIES <target>...]
#     [NO_EXPORT_MACRO]             its headers do not use QTKEEPALIVE_EXPORT
#     [INTERNAL])                   not installed, built only when a test links it
#
# One library module of this project (the library itself, the testing kit,
# and the modules to come), set up the same way: alias, export or static
# define, hidden symbols, version, include directories for the build and
# install trees, the project's warning settings, and install rules.

function(qtkeepalive_add_module target)
    cmake_parse_arguments(
        arg "INTERNAL;NO_EXPORT_MACRO" "EXPORT_NAME;TYPE"
        "SOURCES;PUBLIC_HEADERS;INCLUDE_DIRECTORIES;LIBRARIES;PRIVATE_LIBRARIES" ${ARGN}
    )
    if(arg_UNPARSED_ARGUMENTS OR NOT arg_EXPORT_NAME OR NOT arg_SOURCES)
        message(FATAL_ERROR "qtkeepalive_add_module(${target}): EXPORT_NAME and SOURCES are "
                            "required; unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
    endif()
    if(NOT arg_TYPE)
        set(arg_TYPE ${QTKEEPALIVE_LIBRARY_TYPE})
    endif()
    set(exclude)
    if(arg_INTERNAL)
        set(exclude EXCLUDE_FROM_ALL)
    endif()

    add_library(${target} ${arg_TYPE} ${exclude} ${arg_SOURCES} ${arg_PUBLIC_HEADERS})
    add_library(QtKeepAlive::${arg_EXPORT_NAME} ALIAS ${target})
    set_target_properties(
        ${target}
        PROPERTIES EXPORT_NAME ${arg_EXPORT_NAME}
                   CXX_VISIBILITY_PRESET hidden
                   VISIBILITY_INLINES_HIDDEN ON
    )
    if(arg_TYPE STREQUAL "SHARED")
        target_compile_definitions(${target} PRIVATE QTKEEPALIVE_BUILD_LIBRARY)
        # Before 1.0 every minor release may change the ABI.
        set_target_properties(
            ${target} PROPERTIES VERSION ${PROJECT_VERSION}
                                 SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
        )
    else()
        # Consumers of a static library must not see dllimport declarations.
        # Only for a module whose headers use the export macro: a static
        # module without it (the testing kit) would otherwise pass the define
        # on to executables that also link the shared library, which then
        # see its classes without dllimport (on Windows: unresolved symbols,
        # and "signal not found" for the classes' staticMetaObject).
        if(NOT arg_NO_EXPORT_MACRO)
            target_compile_definitions(${target} PUBLIC QTKEEPALIVE_STATIC)
        endif()
        set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    endif()

    foreach(directory IN LISTS arg_INCLUDE_DIRECTORIES)
        target_include_directories(${target} PUBLIC "$<BUILD_INTERFACE:${directory}>")
    endforeach()
    target_include_directories(
        ${target} PUBLIC "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/QtKeepAlive>"
    )
    target_link_libraries(
        ${target}
        PUBLIC ${arg_LIBRARIES}
        PRIVATE ${arg_PRIVATE_LIBRARIES}
    )
    target_compile_features(${target} PUBLIC cxx_std_17)
    qtkeepalive_apply_project_settings(${target})

    if(QTKEEPALIVE_INSTALL AND NOT arg_INTERNAL)
        install(
            TARGETS ${target}
            EXPORT QtKeepAliveTargets
            RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
            LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
            ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        )
        # Public and forwarding headers only; *_p.h stay private.
        install(FILES ${arg_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/QtKeepAlive)
    endif()
endfunction()
