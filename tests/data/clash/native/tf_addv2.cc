// Registers an op under a name TensorFlow already has: TensorFlow drops it without a word.
#include "tensorflow/core/framework/op.h"

REGISTER_OP("AddV2").Input("x: float").Input("y: float").Output("z: float");
