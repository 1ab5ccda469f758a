/**
 * Who may publish and subscribe to what on the broker: one rule set, used by the embedded broker,
 * by the generated Mosquitto ACL file and by the HTTP authorization endpoint for EMQX.
 *
 * - the controller may do anything;
 * - an adopted receiver may subscribe to its own command, config, schedule and clock topics, its
 *   zone's command topic and the all-receivers topic, and publish only its own status, events,
 *   airing reports and time requests;
 * - a pending receiver (discovery, see MQTT_DISCOVERY) may subscribe only to its own config topic
 *   and publish only its own reports (as above): it hears nothing until an officer adopts it;
 * - nobody but the controller publishes commands or configs.
 */
import type { Topics } from '../contract/mqtt.js';

export type MqttPrincipal =
  | { kind: 'controller' }
  | { kind: 'receiver'; receiverId: string; adopted: boolean; zoneId: string | null };

/** Topic filters a principal may subscribe to (exact topics; receivers get no wildcards). */
export function subscribableTopics(t: Topics, p: Exclude<MqttPrincipal, { kind: 'controller' }>): string[] {
  if (!p.adopted) return [t.receiverConfig(p.receiverId)];
  return [
    t.receiverCommand(p.receiverId),
    t.receiverConfig(p.receiverId),
    t.receiverSchedule(p.receiverId),
    t.receiverClock(p.receiverId),
    t.allCommand(),
    ...(p.zoneId ? [t.zoneCommand(p.zoneId)] : []),
  ];
}

/** Topics a principal may publish to. */
export function publishableTopics(t: Topics, p: Exclude<MqttPrincipal, { kind: 'controller' }>): string[] {
  return [
    t.receiverStatus(p.receiverId),
    t.receiverEvent(p.receiverId),
    t.receiverAiring(p.receiverId),
    t.receiverTime(p.receiverId),
  ];
}

export function maySubscribe(t: Topics, p: MqttPrincipal, topicFilter: string): boolean {
  if (p.kind === 'controller') return true;
  return subscribableTopics(t, p).includes(topicFilter);
}

export function mayPublish(t: Topics, p: MqttPrincipal, topic: string): boolean {
  if (topic.startsWith('$')) return false;
  if (p.kind === 'controller') return true;
  return publishableTopics(t, p).includes(topic);
}
