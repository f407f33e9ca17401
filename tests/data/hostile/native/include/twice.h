// Found only through include_dirs, which lives under the hostile path.
#pragma once
constexpr double kTwice = 2.0;
