/** The Kafka release paystream develops and tests against (KRaft, Java 17+). */
export const kafkaVersion = '4.1.1';
/** The log4j2 release whose SLF4J binding gives the broker its logs. */
export const log4jVersion = '2.24.3';
