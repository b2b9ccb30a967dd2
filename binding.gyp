{
  "variables": {
    "commy_test_addon%": "<!(node -p \"+require('fs').existsSync('test/native/raw_mapping_addon.cc')\")"
  },
  "target_defaults": {
    "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
    "defines": ["NAPI_VERSION=8"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
    "cflags": ["-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"],
    "cflags_cc": ["-std=c++20", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"],
    "conditions": [
      ["OS=='linux'", {"libraries": ["-lrt"]}],
      ["OS=='mac'", {
        "xcode_settings": {
          "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
          "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
          "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
          "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra"]
        }
      }],
      ["OS=='win'", {
        "libraries": ["advapi32.lib"],
        "msvs_settings": {
          "VCCLCompilerTool": {
            "AdditionalOptions": ["/std:c++20", "/W3", "/we4244", "/we4267", "/sdl", "/guard:cf"],
            "ExceptionHandling": 1
          },
          "VCLinkerTool": {"AdditionalOptions": ["/guard:cf"]}
        }
      }]
    ],
    "configurations": {
      "Debug": {"defines": ["NODE_ADDON_API_ENABLE_TYPE_CHECK_ON_AS"]}
    }
  },
  "targets": [
    {
      "target_name": "commy",
      "sources": [
        "native/addon.cc",
        "native/core.cc",
        "native/region.cc",
        "native/platform_posix.cc",
        "native/platform_win32.cc"
      ]
    }
  ],
  "conditions": [
    ["commy_test_addon==1", {
      "targets": [
        {
          "target_name": "commy_test",
          "include_dirs": ["native"],
          "sources": [
            "test/native/raw_mapping_addon.cc",
            "native/core.cc",
            "native/platform_posix.cc",
            "native/platform_win32.cc"
          ]
        }
      ]
    }]
  ]
}
