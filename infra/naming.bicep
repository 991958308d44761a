// Names derived from the azd environment name, as functions, so that a test
// (test/unit/infra/naming.test.ts) evaluates these very declarations with the real Bicep
// evaluator for every name azd accepts: ^[a-zA-Z0-9-()_.]{1,64}$ (azd's EnvironmentNameRegexp).
// Keep each func declaration on one line: the test feeds it to `bicep console` line by line.

@export()
@description('Durable task hub name (DurableTask.AzureStorage: letters and digits only, 3 to 45 characters, starting with a letter): "keyrotor" + the lower-cased letters and digits of the environment name, cut to 45.')
func taskHubName(environmentName string) string => 'keyrotor${take(join(filter(map(range(0, length(environmentName)), i => substring(toLower(environmentName), i, 1)), c => contains('abcdefghijklmnopqrstuvwxyz0123456789', c)), ''), 37)}'

@export()
@description('Resource group name: "rg-" + the environment name, as azd templates do, plus "_" when the name ends with a period (a resource group name may not).')
func resourceGroupName(environmentName string) string => 'rg-${environmentName}${endsWith(environmentName, '.') ? '_' : ''}'
