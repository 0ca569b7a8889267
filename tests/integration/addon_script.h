// Python that Blender runs in the add-on tests, shared by the headless and the UI ones.
#pragma once

#include <string>

namespace bnr::testing {

// A Python string literal for `text` (test paths and endpoints: no quotes or backslashes).
inline std::string py(const std::string& text) { return "'" + text + "'"; }

// Installs the add-on from the zip the build makes (into the Blender user config the
// environment names), enables it, and points it at the broker under test with `extra_args`.
inline std::string addon_setup_python(const std::string& extra_args) {
  return "import bpy, sys\n"
         "bpy.ops.preferences.addon_install(filepath=" + py(BNR_ADDON_ZIP) + ")\n"
         "bpy.ops.preferences.addon_enable(module='bnr_farm')\n"
         "prefs = bpy.context.preferences.addons['bnr_farm'].preferences\n"
         "prefs.broker_path = " + py(BNR_BROKER_EXE) + "\n"
         "prefs.extra_args = " + py(extra_args) + "\n";
}

}  // namespace bnr::testing
