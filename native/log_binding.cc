// Placeholder until the log engine lands: registers nothing.
#include <napi.h>
namespace ringkv {
void InitLog(Napi::Env env, Napi::Object exports) {}
}  // namespace ringkv
