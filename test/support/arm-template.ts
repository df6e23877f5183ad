import type { ArmResource, ArmTemplate } from '../../tools/infra/check.ts';

// Reading the ARM JSON the Bicep compiler writes for infra/main.bicep: modules are nested
// deployments (`Microsoft.Resources/deployments`) whose template and parameter values are inline.
// Expressions stay unevaluated (`[parameters('x')]`): these helpers follow the simple ones.

/** The nested deployment of `main.bicep`'s module with that deployment name (`api`, `rbac`, …). */
export function moduleOf(
  template: ArmTemplate,
  name: string,
): { template: ArmTemplate; parameters: Record<string, unknown>; resource: ArmResource } {
  const resource = template.resources.find((r) => r.type === 'Microsoft.Resources/deployments' && r.name === name);
  if (!resource?.properties?.template) throw new Error(`no module deployment named ${name}`);
  const parameters = Object.fromEntries(
    Object.entries(resource.properties.parameters ?? {}).map(([key, { value }]) => [key, value]),
  );
  return { template: resource.properties.template, parameters, resource };
}

/** Every resource of that type in a template (not in its modules). */
export function resourcesOf(template: ArmTemplate, type: string): ArmResource[] {
  return template.resources.filter((r) => r.type === type);
}

/** The one resource of that type in a template. */
export function resourceOf(template: ArmTemplate, type: string): ArmResource {
  const found = resourcesOf(template, type);
  if (found.length !== 1) throw new Error(`${found.length} resources of type ${type}, expected one`);
  return found[0]!;
}

/** `module output` when an expression is exactly another module's output, as main.bicep passes them. */
export function moduleOutput(expression: unknown): { module: string; output: string } | undefined {
  const m =
    typeof expression === 'string'
      ? /^\[reference\(.*'Microsoft\.Resources\/deployments', '([\w-]+)'\), '[\d-]+'\)\.outputs\.(\w+)\.value\]$/.exec(
          expression,
        )
      : null;
  return m ? { module: m[1]!, output: m[2]! } : undefined;
}

/** `x` when an expression is exactly `[parameters('x')]`. */
export function parameterName(expression: unknown): string | undefined {
  return typeof expression === 'string' ? /^\[parameters\('(\w+)'\)\]$/.exec(expression)?.[1] : undefined;
}

/** An output of a template: the expression it is set to. */
export function outputOf(template: ArmTemplate, name: string): unknown {
  const output = template.outputs?.[name];
  if (!output) throw new Error(`no output ${name}`);
  return output.value;
}
